"""The HTTP endpoints of an in-process daemon (the real run loop, a real simulator, real SQLite)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.cli._demo_lab import Lab
from reconciler.core.decide import Tuning
from reconciler.core.status import status_document
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.loop import Daemon
from reconciler.store import open_store
from tests.daemon.kit import rig

QUICK = Tuning(
    active_interval=timedelta(seconds=0.3),
    waiting_interval=timedelta(seconds=0.3),
    idle_interval=timedelta(seconds=2),
    after_move=timedelta(seconds=0.1),
    effect_grace=timedelta(seconds=20),
)


async def test_endpoints_serve_health_readiness_metrics_status_and_the_page(
    tmp_path: Path, base_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        for key, value in world.env.items():
            monkeypatch.setenv(key, value)
        config = DaemonConfig(
            specs=world.specs,
            state_url=world.state_url,
            port=0,
            jitter=0.05,
            lease_ttl=3,
            watch_period=1,
            tuning=QUICK,
            max_interval=0.5,
        )
        daemon = Daemon(config)
        running = asyncio.create_task(daemon.run())
        try:
            while daemon.port is None:
                assert not running.done(), "the daemon did not start"
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.port}", timeout=5) as http:
                for _ in range(300):
                    status = (await http.get("/api/status")).json()
                    if [s["phase"] for s in status["servers"]] == ["in_sync"]:
                        break
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail(f"sepm-dmz never got in sync: {status}")

                assert [s["code"] for s in status["servers"]] == ["InSync"]
                assert (await http.get("/healthz")).json() == {"status": "ok", "role": "leader"}
                assert (await http.get("/readyz")).json()["status"] == "ready"
                assert (await http.head("/healthz")).status_code == 200
                assert (await http.get("/nope")).status_code == 404
                assert (await http.post("/api/status")).status_code == 405  # read-only

                with open_store(world.state_url, create=False) as store:
                    records = store.all()
                    assert status_document(records)["servers"][0]["name"] == status["servers"][0]["name"]
                    assert set(status) == {"servers", "daemon"}
                    assert set(status["servers"][0]) == set(status_document(records)["servers"][0])

                metrics = (await http.get("/metrics")).text
                families = {f.name: f for f in text_string_to_metric_families(metrics)}
                assert all(name.startswith("sepm_reconciler_") for name in families)
                for name in (
                    "phase",
                    "step",
                    "seconds_in_step",
                    "drift",
                    "tick_duration_seconds",
                    "actions",
                    "errors",
                    "spec_reload_failures",
                    "leader",
                    "certificate_not_after_timestamp_seconds",
                ):
                    assert f"sepm_reconciler_{name}" in families, name
                one_hot = {s.labels["phase"]: s.value for s in families["sepm_reconciler_phase"].samples}
                assert one_hot["in_sync"] == 1.0 and sum(one_hot.values()) == 1.0
                calls = {
                    s.labels["endpoint"]: s.value
                    for s in families["sepm_reconciler_api_calls"].samples
                    if s.name.endswith("_total") and s.labels["server"] == "sepm-dmz"
                }
                assert calls["identity/authenticate"] >= 1 and calls["computers"] >= 1, calls
                assert calls["groups/{id}/locations/{id}/settings"] >= 1, calls  # ids replaced

                page = await http.get("/")
                assert page.headers["content-type"].startswith("text/html")
                assert "default-src 'none'" in page.headers["content-security-policy"]
                assert 'data-server="sepm-dmz"' in page.text and "in sync" in page.text
                assert "http" not in page.text.split("<body>")[0].replace(
                    "http-equiv", ""
                )  # no external asset
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(running, 15) == 0
