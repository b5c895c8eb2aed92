"""A daemon (in process, the real run loop and endpoints) started on, then reloaded with, hostile specs: it keeps
running, acts on nothing invalid, and shows the refused commit — located — in /readyz, /api/status, /metrics (with
the refused revision) and on the status page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon.config import DaemonConfig
from tests.daemon.inproc import eventually, running_daemon
from tests.specs.helpers import spec

DEEP = "[" * 1000 + "]" * 1000 + "\n"
BOMB = "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
)
# A valid server whose manager nobody answers for: its ticks fail to connect, which is all this test needs.
VALID = spec(("https://sepm-east-01.corp.example:8446", "https://127.0.0.1:9"))


def specs_info(metrics: str) -> dict[str, str]:
    """``{status: revision}`` of ``sepm_reconciler_specs_info`` samples whose value is 1."""
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    return {
        s.labels["status"]: s.labels["revision"]
        for s in families["sepm_reconciler_specs_info"].samples
        if s.value
    }


def config(specs: Path, tmp_path: Path) -> DaemonConfig:
    return DaemonConfig(
        specs=specs,
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        port=0,
        watch_period=3600,  # reloads happen when the test asks (the SIGHUP path), not on a timer
        lease_ttl=3,
        jitter=0.05,
    )


async def test_hostile_specs_at_start_and_on_reload_are_refused_visibly_and_never_crash_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEPM_USER", "svc")
    monkeypatch.setenv("SEPM_PASSWORD", "pw")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "east.yaml").write_text(DEEP, encoding="utf-8")

    async with running_daemon(config(specs, tmp_path)) as (daemon, http):

        async def refused() -> Any:
            document = (await http.get("/api/status")).json()["daemon"]["specs"]
            return None if document["valid"] or not document["errors"] else document

        # started on nesting 1,000 levels deep: alive, not ready, the error located
        at_start = await eventually(refused, "the deep spec to be refused")
        assert at_start["errors"] == [
            f"{specs / 'east.yaml'}:1:65: nested deeper than 64 levels: a spec is only a few levels deep; "
            "refusing the file"
        ]
        assert at_start["revision"] is None and at_start["rejected_revision"].startswith("sha256:")

        async def not_ready_for_the_specs() -> bool:  # once it leads (before, it is not ready as "starting")
            ready = await http.get("/readyz")
            return ready.status_code == 503 and "nested deeper than 64 levels" in ready.json()["reason"]

        await eventually(not_ready_for_the_specs, "/readyz to name the refused spec")
        assert (await http.get("/healthz")).status_code == 200
        metrics = (await http.get("/metrics")).text
        assert specs_info(metrics) == {"rejected": at_start["rejected_revision"]}
        assert "sepm_reconciler_specs_valid 0.0" in metrics
        page = (await http.get("/")).text
        assert "Spec commit refused" in page and "nested deeper than 64 levels" in page
        assert at_start["rejected_revision"] in page

        # a valid commit is loaded ...
        (specs / "east.yaml").write_text(VALID, encoding="utf-8")
        daemon.request_reload()
        loaded = await eventually(
            lambda: _specs_when(http, lambda s: s["valid"]), "the valid spec to be loaded"
        )
        assert specs_info((await http.get("/metrics")).text) == {"in_force": loaded["revision"]}

        # ... and the next one, an alias bomb, is refused while the valid one stays in force
        (specs / "east.yaml").write_text(BOMB, encoding="utf-8")
        daemon.request_reload()
        again = await eventually(
            lambda: _specs_when(http, lambda s: not s["valid"]), "the alias bomb to be refused"
        )
        assert again["revision"] == loaded["revision"] and again["rejected_revision"] != loaded["revision"]
        assert again["errors"] == [
            f"{specs / 'east.yaml'}:1:1: the document expands to more than 20000 YAML nodes or 64 levels "
            "(aliases?): refusing it"
        ]
        assert again["reload_failures"] == 2
        assert specs_info((await http.get("/metrics")).text) == {
            "in_force": loaded["revision"],
            "rejected": again["rejected_revision"],
        }

        async def ready() -> bool:  # the last valid specs are in force
            return (await http.get("/readyz")).status_code == 200

        await eventually(ready, "/readyz 200 on the last valid specs")
        page = (await http.get("/")).text
        assert "Spec commit refused" in page and again["rejected_revision"] in page


async def _specs_when(http: httpx.AsyncClient, condition: Callable[[dict[str, Any]], bool]) -> Any:
    document = (await http.get("/api/status")).json()["daemon"]["specs"]
    return document if condition(document) else None
