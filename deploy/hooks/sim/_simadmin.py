"""Shared by the simulator hooks beside this file: find the simulated manager and call its ``/_sim`` admin API.

Configuration (environment only; the admin token is read from the ports file, never passed on a command line):

``SEPM_SIM_PORTS_FILE``  the ports file written by ``sepm-reconciler simulate --ports-file PATH`` (required)
``SEPM_SIM_MANAGER``     the simulated manager's name (default: ``SEPM_RECONCILER_SERVER``, the spec's
                         ``metadata.name``)

Needs ``httpx`` (installed with sepm-cert-reconciler). The simulator's certificates change on purpose during a
rotation, so this local admin client does not verify them (like ``sepm-reconciler sim-admin``): use it only with
the simulator.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import httpx

__all__ = ["SimAdmin", "fail", "partners"]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on standard error and exit with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def partners() -> list[str]:
    """The partners the step is about (``SEPM_RECONCILER_PARTNERS``, comma-separated)."""
    return [p for p in os.environ.get("SEPM_RECONCILER_PARTNERS", "").split(",") if p]


class SimAdmin:
    """The admin API of one simulated manager."""

    def __init__(self) -> None:
        ports_file = os.environ.get("SEPM_SIM_PORTS_FILE")
        if not ports_file:
            fail("SEPM_SIM_PORTS_FILE is not set: point it at the ports file of sepm-reconciler simulate", 2)
        name = os.environ.get("SEPM_SIM_MANAGER") or os.environ.get("SEPM_RECONCILER_SERVER")
        if not name:
            fail("neither SEPM_SIM_MANAGER nor SEPM_RECONCILER_SERVER is set: which manager?", 2)
        try:
            managers = json.loads(Path(str(ports_file)).read_text(encoding="utf-8"))["managers"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"{ports_file}: not a simulator ports file ({exc})", 2)
        if name not in managers:
            fail(f"no manager {name!r} in {ports_file} (it has {', '.join(sorted(managers))})", 2)
        entry = managers[name]
        self.name = str(name)
        self.base = str(entry["api_url"]).split("/sepm/api/v1")[0] + "/_sim"
        self._headers = {"Authorization": f"Bearer {entry['admin_token']}"}

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        """One admin call: ``(status, JSON body)``. Statuses >= 400 not in ``ok`` end the hook with a message."""
        # The simulator's certificates are what is being rotated: this local admin client does not verify them.
        with httpx.Client(verify=False, timeout=30.0) as client:  # noqa: S501 - simulator only, see above
            response = client.request(method, self.base + path, json=body, headers=self._headers)
        try:
            data = response.json()
        except ValueError:
            data = {"errorMessage": response.text[:200]}
        if response.status_code >= 400 and response.status_code not in ok:
            message = data.get("errorMessage", data) if isinstance(data, dict) else data
            fail(f"{self.name}: {method} /_sim{path} answered {response.status_code}: {message}")
        return response.status_code, data

    def state(self) -> dict[str, Any]:
        """This manager's ground truth (``GET /_sim/state``), retrying while its API port restarts."""
        deadline = time.monotonic() + 60
        while True:
            try:
                _, data = self.call("GET", "/state")
                return dict(data["managers"][self.name])
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def restart_and_wait(self, timeout: float = 120.0) -> dict[str, Any]:
        """Restart the three SEPM services and wait until none is restarting; fail if one did not come back."""
        self.call("POST", "/services/restart", {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                state = self.state()
            except httpx.TransportError:
                continue
            services = state["services"]
            if all(v != "restarting" for v in services.values()):
                if all(v == "running" for v in services.values()):
                    return state
                fail(f"{self.name}: the services did not come back: {services}")
        fail(f"{self.name}: the services did not come back within {timeout:g} s")
