"""A live report of a manager whose rollout is under way: the observation counts client acknowledgements against
the record's change time, the report says which step and who is at risk — and nothing is written or changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.clock import FakeClock
from reconciler.core.drift import Reason, Severity
from reconciler.core.procedure import Phase
from reconciler.core.record import Facts, RolloutRecord
from reconciler.report import collect, render
from reconciler.sim import Simulator
from reconciler.store import open_store
from tests.report.conftest import PASSWORD_ENV, Certs, write_spec

MANAGER_NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # the simulator's frozen clock


async def test_a_rollout_at_step_3_is_reported_with_its_clients_at_risk_and_nothing_changes(
    sim: Simulator, certs: Certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "admin-pass")
    write_spec(tmp_path / "specs", sim, "sepm-east", certs, desired=certs.next)
    now = datetime.now(UTC).replace(microsecond=0)
    off_at = MANAGER_NOW - timedelta(hours=2)  # step 2 turned verification off two hours ago (manager clock)
    record = RolloutRecord(
        server="sepm-east",
        phase=Phase.WAITING_UNVERIFIED,
        entered_at=now - timedelta(hours=2),
        updated_at=now - timedelta(minutes=1),
        next_check_at=now + timedelta(minutes=4),
        reason="step 3: waiting for clients",
        rollout_id="r-20261201T0600Z-0a0b0c0d",
        target_fingerprint=certs.next.fingerprint,
        desired_fingerprint=certs.next.fingerprint,
        spec_revision="r1",
        started_revision="r1",
        procedure_version=1,
        started_at=now - timedelta(hours=3),
        facts=Facts(
            verification_off_at=off_at, original_fingerprints=sim.state()["managers"]["sepm-east"]["served"]
        ),
    )
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store:
        saved = store.save(record)
        before = (store.get("sepm-east"), store.events())
        report = await collect(tmp_path / "specs", store, clock=FakeClock(now), since=timedelta(days=1))
        after = (store.get("sepm-east"), store.events())
    assert after == before and saved.version == 1  # read only

    (server,) = report.servers
    by_reason = {f.reason: f for f in server.findings}
    assert server.status == "rotating 3/7"
    assert by_reason[Reason.ROLLOUT_IN_PROGRESS].severity is Severity.WARNING
    assert by_reason[Reason.ROLLOUT_IN_PROGRESS].message.startswith("step 3 of 7 (waiting_unverified) since")
    # the minimum soak (24 h from the change, manager clock) ends 22 h from now, on the reconciler's clock
    until = by_reason[Reason.ROLLOUT_IN_PROGRESS].until
    assert until is not None and abs(until - (now + timedelta(hours=22))) < timedelta(seconds=5)
    at_risk = by_reason[Reason.AT_RISK_CLIENTS]
    truth = sim.state()["managers"]["sepm-east"]["clients"]
    assert at_risk.message.startswith(
        f"{truth['total']} clients would be orphaned if the certificate changed now"
    )
    assert "they have not applied the policy of 2026-12-01 06:00 UTC (manager time)" in at_risk.message
    assert "(rollout under way at step 3: step 4 swaps it)" in by_reason[Reason.CERTIFICATE_MISMATCH].message
    assert report.exit_code == 2
    assert server.history is not None and server.history.events == ()
    assert "rotating 3/7" in render(report, "text")
