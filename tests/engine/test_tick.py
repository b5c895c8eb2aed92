"""The tick against the simulator: compare-and-set, failures that hold, actions that fail, spec problems of one
server, hung managers, and spec swaps."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from reconciler.core.actions import ActionKind
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import AttemptOutcome, RolloutRecord
from reconciler.engine import Engine, TickResult
from reconciler.errors import SpecError
from reconciler.hooks import HookResult, OnStart, run_hook
from reconciler.sepm import RetryPolicy, SepmClient, SepmCredentials, tls_context
from reconciler.specs import LoadedServer, SpecIssue, load_specs
from reconciler.store import Store, open_store
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import P12_PASSWORD, TUNING, Pki, Rig, fast_client, fleet, manager, write_spec


def at(phase: Phase) -> Callable[[list[TickResult]], bool]:
    return lambda results: results[0].phase_after is phase


class CountingRunner:
    """The real hook runner, counting its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        variables: Mapping[str, str],
        timeout_s: float,
        secrets: Sequence[str] = (),
        cwd: Path | None = None,
        environment: Mapping[str, str] | None = None,
        on_start: OnStart | None = None,
    ) -> HookResult:
        self.calls.append(tuple(argv))
        return await run_hook(
            argv,
            variables=variables,
            timeout_s=timeout_s,
            secrets=secrets,
            cwd=cwd,
            environment=environment,
            on_start=on_start,
        )


async def _one_server(rig: Rig, pki: Pki) -> None:
    write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, pki.leaf("east-new"))


async def test_a_lost_compare_and_set_drops_the_tick_and_runs_no_hook(make_rig: RigFactory, pki: Pki) -> None:
    async with make_rig(
        fleet(manager("sepm-east", "Site East", pki.leaf("east-old"), offline_share=0.0))
    ) as rig:
        await _one_server(rig, pki)
        rig.start_engine()
        await rig.run_until(at(Phase.UPDATING_CERTIFICATE))
        other = open_store(rig.state_url)  # another sepm-reconciler on the same state

        def racing(server: LoadedServer) -> SepmClient:
            record = other.get(server.name)
            assert record is not None
            other.save(replace(record, reason="moved by the other sepm-reconciler"))
            return fast_client(server)

        runner = CountingRunner()
        rig.start_engine(client_factory=racing, hook_runner=runner)
        (result,) = await rig.tick()

        assert result.conflict and result.error is None
        assert result.action is None and result.outcome is None and runner.calls == []
        assert "this tick was dropped and nothing done" in result.reason
        assert "another process moved it first" in result.reason
        assert rig.record("sepm-east").reason == "moved by the other sepm-reconciler", (
            "nothing of ours was saved"
        )
        other.close()

        rig.start_engine(hook_runner=runner)  # no race now: the next tick acts
        (result,) = await rig.tick()
        assert result.outcome is not None and result.outcome.succeeded and len(runner.calls) == 1


async def test_a_result_for_an_attempt_another_process_dropped_goes_to_the_log_only(
    make_rig: RigFactory, pki: Pki
) -> None:
    async with make_rig(
        fleet(manager("sepm-east", "Site East", pki.leaf("east-old"), offline_share=0.0))
    ) as rig:
        await _one_server(rig, pki)
        rig.start_engine()
        await rig.run_until(at(Phase.UPDATING_CERTIFICATE))
        other = open_store(rig.state_url)  # another sepm-reconciler, writing while our hook runs

        class Meddling(CountingRunner):
            async def __call__(self, argv: Sequence[str], **options: Any) -> HookResult:
                record = other.get("sepm-east")
                assert record is not None
                other.save(replace(record, attempts=(), reason="rewritten by the other sepm-reconciler"))
                return await super().__call__(argv, **options)

        rig.start_engine(hook_runner=Meddling())
        (result,) = await rig.tick()
        other.close()

        assert result.outcome is not None and result.error is None
        assert rig.record("sepm-east").reason == "rewritten by the other sepm-reconciler", "not overwritten"
        finished = [
            e
            for e in rig.store.events("sepm-east")
            if e.kind is EventKind.ATTEMPT_FINISHED and e.details["step"] == 4
        ]
        assert [e.details["attempt"] for e in finished] == [1], "the result is kept in the log"


class FailingPatch(httpx.AsyncBaseTransport):
    """The real HTTPS transport, except that every PATCH is answered 500."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return httpx.Response(500, json={"errorCode": "500", "errorMessage": "internal error"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def failing_patch_client(server: LoadedServer) -> SepmClient:
    conn = server.spec.spec.server
    return SepmClient(
        conn.api_url,
        SepmCredentials("admin", "admin-pass", ""),
        transport=FailingPatch(httpx.AsyncHTTPTransport(verify=tls_context(conn.ca_bundle))),
        timeout=5.0,
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05),
    )


async def test_a_failing_api_action_is_recorded_as_a_failed_attempt_and_nothing_moves(
    make_rig: RigFactory, pki: Pki
) -> None:
    async with make_rig(fleet(manager("sepm-east", "Site East", pki.leaf("east-old"), clients=30))) as rig:
        await _one_server(rig, pki)
        rig.start_engine()
        await rig.run_until(at(Phase.DISABLING_VERIFICATION))
        rig.start_engine(client_factory=failing_patch_client)

        (result,) = await rig.tick()

        assert result.phase_after is Phase.DISABLING_VERIFICATION and not result.moved
        assert result.outcome is not None and not result.outcome.succeeded
        assert "not confirmed off" in result.outcome.detail and "HTTP 500" in result.outcome.detail
        record = rig.record("sepm-east")
        (attempt,) = [a for a in record.attempts if a.kind is ActionKind.SET_VERIFICATION]
        assert attempt.outcome is AttemptOutcome.FAILED
        finished = [e for e in rig.store.events("sepm-east") if e.kind is EventKind.ATTEMPT_FINISHED]
        assert [(e.details["action"], e.details["succeeded"]) for e in finished] == [
            ("switch_to_http_list", True),  # 2a's hook
            ("set_verification", False),
        ]
        truth = rig.truth()["managers"]["sepm-east"]
        assert all(g["secure_communications"] for g in truth["groups"]), "nothing changed on the manager"


async def test_an_unresolvable_keystore_password_holds_step_4_before_any_attempt_and_says_where(
    make_rig: RigFactory, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_rig(
        fleet(manager("sepm-east", "Site East", pki.leaf("east-old"), offline_share=0.0))
    ) as rig:
        await _one_server(rig, pki)
        rig.start_engine()
        await rig.run_until(at(Phase.UPDATING_CERTIFICATE))
        monkeypatch.delenv("E2E_P12_PASSWORD")
        runner = CountingRunner()
        rig.start_engine(hook_runner=runner)

        (result,) = await rig.tick()

        assert result.phase_after is Phase.UPDATING_CERTIFICATE and result.action is None
        assert result.outcome is None and runner.calls == []
        assert [r for r in rig.hook_runs() if r["step"] == "4"] == []
        assert result.error is not None and result.error.startswith("keystore: ")
        assert (
            "spec.certificate.keystore.password: environment variable E2E_P12_PASSWORD is not set"
            in result.error
        )
        assert result.code is Code.KEYSTORE_UNUSABLE
        assert not [a for a in rig.record("sepm-east").attempts if a.step == 4], "no attempt is burnt"

        monkeypatch.setenv("E2E_P12_PASSWORD", P12_PASSWORD)
        (result,) = await rig.tick()
        assert result.error is None and len(runner.calls) == 1, "fixed: the update starts"


async def test_a_broken_certificate_file_holds_that_server_and_the_others_go_on(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config = fleet(
        manager("sepm-a", "Site A", pki.leaf("a-old"), clients=20),
        manager("sepm-b", "Site B", pki.leaf("b-old"), clients=20),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-a", pki, pki.leaf("a-new"))
        broken = pki.leaf("b-new")
        write_spec(rig.specs_dir, rig.sim, "sepm-b", pki, broken)
        broken.cert_file.write_text("not a certificate")
        rig.start_engine()

        a, b = await rig.tick()

        assert a.error is None and a.phase_after is Phase.BREAKING_REPLICATION
        assert b.phase_after is Phase.NEW and b.action is None and b.error is not None
        assert b.code is Code.CERTIFICATE_UNUSABLE and "fix spec.certificate of sepm-b" in b.reason
        assert rig.record("sepm-b").reason == b.reason, "status shows why it holds"
        assert rig.record("sepm-b").code == "CertificateUnusable"
        assert b.observation is not None, "what it serves is still observed"


async def test_a_hung_manager_is_abandoned_after_the_observe_timeout_without_blocking_the_others(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config = fleet(
        manager("sepm-a", "Site A", pki.leaf("a-old"), clients=20),
        manager("sepm-b", "Site B", pki.leaf("b-old"), clients=20),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-a", pki, pki.leaf("a-new"))
        write_spec(rig.specs_dir, rig.sim, "sepm-b", pki, pki.leaf("b-new"))
        await rig.admin("sepm-b").post("faults", {"timeout_rate": 1.0, "hang_s": 120})
        rig.start_engine(observe_timeout=1.0)

        started = time.monotonic()
        a, b = await rig.tick()

        assert time.monotonic() - started < 60  # sepm-b's 120 s hang was not waited for
        assert a.error is None and a.phase_after is Phase.BREAKING_REPLICATION
        assert b.observation is None and b.phase_after is Phase.NEW and b.action is None
        assert b.error is not None and "did not complete within 1 s" in b.error
        assert b.code is Code.OBSERVATION_UNKNOWN
        assert b.next_check_at - rig.clock.now() >= TUNING.active_interval, "backed off"
        assert rig.record("sepm-b").reason == b.reason
        await rig.admin("sepm-b").post("faults", {"reset": True})


async def test_the_engine_acts_only_on_valid_spec_sets_and_keeps_ledgers_of_unchanged_servers(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config = fleet(
        manager("sepm-a", "Site A", pki.leaf("a-old"), clients=20),
        manager("sepm-b", "Site B", pki.leaf("b-old"), clients=20),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-a", pki, pki.leaf("a-new"))
        write_spec(rig.specs_dir, rig.sim, "sepm-b", pki, pki.leaf("b-new"))
        engine = rig.start_engine()
        await rig.tick()
        ledger_a = engine.ledger("sepm-a")
        assert len(ledger_a) == 20

        invalid = replace(rig.load(), issues=[*rig.load().issues, *_an_error(rig)])
        with pytest.raises(SpecError, match="the engine acts only on a valid spec set"):
            engine.update_specs(invalid)
        with pytest.raises(SpecError):
            Engine(invalid, rig.store)

        (rig.specs_dir / "sepm-b.yaml").unlink()
        engine.update_specs(rig.load())
        assert engine.names == ["sepm-a"]
        assert engine.ledger("sepm-a") is ledger_a, "an unchanged server keeps its client ledger"
        before = rig.record("sepm-b")
        gone = await engine.tick("sepm-b")
        assert gone.error is not None and "not in the specs" in gone.error and gone.action is None
        assert rig.record("sepm-b") == before, "a server removed from the specs is left as it is"


def _an_error(rig: Rig) -> list[SpecIssue]:
    bad = rig.specs_dir.parent / "bad.yaml"
    bad.write_text("apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: x}\n")
    errors = load_specs(bad).errors
    assert errors
    return errors


class ReadCountingStore:
    """A store that counts the records read: ``all()`` calls and the names given to ``get()``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.all_calls = 0
        self.got: list[str] = []

    def all(self) -> list[RolloutRecord]:
        self.all_calls += 1
        return self.inner.all()

    def get(self, server: str) -> RolloutRecord | None:
        self.got.append(server)
        return self.inner.get(server)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_tick_reads_its_own_record_and_its_partners_never_the_whole_fleets(
    make_rig: RigFactory, pki: Pki
) -> None:
    # Each record carries up to AT_RISK_LISTED clients: a tick that read every record made a fleet of 50 managers
    # parse 50 × 5,000 clients per tick (fleet benchmark: 2.7 GB peak RSS, most of the first round's CPU).
    fleet_config = fleet(
        manager("sepm-a", "Site A", pki.leaf("a-old"), clients=20, partners=["Site B"]),
        manager("sepm-b", "Site B", pki.leaf("b-old"), clients=20, partners=["Site A"]),
        manager("sepm-c", "Site C", pki.leaf("c-old"), clients=20),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-a", pki, pki.leaf("a-new"), partners=["Site B"])
        write_spec(rig.specs_dir, rig.sim, "sepm-b", pki, pki.leaf("b-new"), partners=["Site A"])
        write_spec(rig.specs_dir, rig.sim, "sepm-c", pki, pki.leaf("c-new"))
        rig.start_engine()
        await rig.tick()
        assert {r.server for r in rig.store.all()} == {"sepm-a", "sepm-b", "sepm-c"}

        counting = ReadCountingStore(rig.store)
        engine = Engine(
            rig.load(), cast(Store, counting), tuning=TUNING, client_factory=fast_client, clock=rig.clock
        )
        a = await engine.tick("sepm-a")
        assert a.error is None
        assert counting.all_calls == 0 and sorted(set(counting.got)) == ["sepm-a", "sepm-b"], (
            "its own record and its partner's"
        )
        counting.got.clear()
        c = await engine.tick("sepm-c")
        assert c.error is None
        assert counting.all_calls == 0 and set(counting.got) == {"sepm-c"}, (
            "a server without partners: its own"
        )
