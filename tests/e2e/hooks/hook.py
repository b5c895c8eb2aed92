#!/usr/bin/env python3
"""The end-to-end tests' hook for steps 1, 2a, 4a, 5b and 7: records each run, misbehaves on request, then hands over
to the simulator hook of its step in deploy/hooks/sim/ (the ones the demo uses).

Configured through the environment (never arguments), by the test:

``E2E_HOOK_LOG``        append one JSON line per run: server, step, attempt, rollout id, pid, and whether the keystore
                        password was in the environment and/or on the command line (it must never be)
``E2E_FAIL``            ``STEP:N`` — the first N runs of that step (``1``…``7``, or a step name such as
                        ``switch_to_http_list``) exit 1 without doing anything
``E2E_READY_FILE``      step 4: create this file once started, then wait (up to 60 s) for ``E2E_GO_FILE``
``E2E_GO_FILE``
``E2E_WRONG_CERT``      step 4: install this PEM certificate (``.crt`` beside its ``.key``) instead of the keystore
                        and restart: a hook that "succeeds" with the wrong certificate
plus what deploy/hooks/sim/ needs (``SEPM_SIM_PORTS_FILE``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

SIM_HOOKS = Path(__file__).resolve().parents[3] / "deploy" / "hooks" / "sim"
BY_STEP = {"1": "break-replication.py", "4": "update-certificate.py", "7": "restore-replication.py"}
BY_NAME = {"switch_to_http_list": "assign-list.py", "restore_original_list": "assign-list.py"}

env = os.environ
step = env.get("SEPM_RECONCILER_STEP", "")
name = env.get("SEPM_RECONCILER_STEP_NAME", "")
server = env.get("SEPM_RECONCILER_SERVER", "")
password = env.get("SEPM_RECONCILER_KEYSTORE_PASSWORD")
log = Path(env["E2E_HOOK_LOG"])
runs = [json.loads(line) for line in log.read_text().splitlines() if line] if log.exists() else []
entry = {
    "server": server,
    "step": step,
    "name": name,
    "list": env.get("SEPM_RECONCILER_LIST"),
    "attempt": env.get("SEPM_RECONCILER_ATTEMPT"),
    "rollout": env.get("SEPM_RECONCILER_ROLLOUT_ID"),
    "partners": env.get("SEPM_RECONCILER_PARTNERS"),
    "desired": env.get("SEPM_RECONCILER_DESIRED_FINGERPRINT"),
    "keystore": env.get("SEPM_RECONCILER_KEYSTORE_FILE"),
    "pid": os.getpid(),
    "password_in_env": bool(password),
    "password_in_argv": password is not None and any(password in arg for arg in sys.argv),
}
with log.open("a", encoding="utf-8") as handle:
    handle.write(json.dumps(entry) + "\n")

fail = env.get("E2E_FAIL", "")
if fail:
    fail_step, _, times = fail.partition(":")
    earlier = sum(1 for r in runs if r["server"] == server and fail_step in (r["step"], r.get("name")))
    if fail_step in (step, name) and earlier < int(times):
        print(f"simulated failure {earlier + 1} of {times} (the password {password} must be masked)")
        raise SystemExit(1)

if step == "4" and env.get("E2E_READY_FILE"):
    Path(env["E2E_READY_FILE"]).write_text(str(os.getpid()))
    go = Path(env["E2E_GO_FILE"])
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal within 60 s")
        time.sleep(0.05)

if step == "4" and env.get("E2E_WRONG_CERT"):
    sys.path.insert(0, str(SIM_HOOKS))
    from _simadmin import SimAdmin

    cert = Path(env["E2E_WRONG_CERT"])
    admin = SimAdmin()
    admin.call(
        "POST",
        "/certificate",
        {"cert_pem": cert.read_text(), "key_pem": cert.with_suffix(".key").read_text()},
    )
    admin.restart_and_wait()
    print(f"{server}: installed {cert.name}")
    raise SystemExit(0)

script = SIM_HOOKS / (BY_NAME.get(name) or BY_STEP[step[:1]])
os.execv(sys.executable, [sys.executable, str(script)])  # noqa: S606 - hand over to the demo hook, no shell
