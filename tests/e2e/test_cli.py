"""``plan`` and ``reconcile`` as real subprocesses against the simulator — including a reconciler SIGKILLed while its
certificate hook runs, then restarted: the hook never runs twice and no client is orphaned."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.actions import ActionKind
from reconciler.core.procedure import Phase
from reconciler.core.record import AttemptOutcome
from reconciler.engine import SystemClock
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, Rig, cli, fleet, manager, write_spec

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _args(rig: Rig, *more: str) -> list[str]:
    return ["--specs", str(rig.specs_dir), "--state", rig.state_url, *more]


@pytest.mark.parametrize(
    ("case", "expected_code"),
    [("in_sync", 0), ("drift", 2), ("unreachable", 1), ("invalid_spec", 1)],
    ids=["in-sync-exits-0", "drift-exits-2", "unreachable-exits-1", "invalid-spec-exits-1"],
)
async def test_plan_exit_code_says_whether_anything_is_to_do(
    make_rig: RigFactory, pki: Pki, case: str, expected_code: int
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old))) as rig:
        path = write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, old if case == "in_sync" else new)
        if case == "unreachable":
            document = json.loads(path.read_text())
            document["spec"]["server"]["apiUrl"] = f"https://127.0.0.1:{_free_port()}/sepm/api/v1"
            document["spec"]["server"]["ports"] = {
                "clients": _free_port(),
                "console": _free_port(),
                "api": _free_port(),
            }
            path.write_text(json.dumps(document))
        if case == "invalid_spec":
            (rig.specs_dir / "broken.yaml").write_text(
                "apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: sepm-west}\nspec:\n  sever: {}\n"
            )
        state = rig.specs_dir.parent / "state.db"
        rig.store.close()
        state.unlink()

        code, out, err = await cli("plan", *_args(rig, "--output", "json"))

        assert code == expected_code, err
        document = json.loads(out)
        (server,) = document["servers"]
        assert server["name"] == "sepm-east" and document["exit_code"] == code
        assert not state.exists(), "plan never creates nor writes the state"
        if case == "in_sync":
            assert server["in_sync"] and server["steps"] == []
        if case == "drift":
            assert [s["step"] for s in server["steps"]] == [1, 2, 2, 3, 4, 4, 5, 5, 6, 7]
            assert [s["substep"] for s in server["steps"]] == [
                None,
                "2a",
                "2b",
                None,
                "4a",
                "4b",
                "5a",
                "5b",
                None,
                None,
            ]
            assert server["eta"] is not None and server["next_action"] is not None
            soak = next(s for s in server["steps"] if s["step"] == 3)
            assert "minSoak 1 day" in soak["waits_for"]
        if case == "unreachable":
            assert "cannot be reached" in server["error"]
        if case == "invalid_spec":
            located = {(Path(i["file"]).name, i["line"], i["field"]) for i in document["spec_errors"]}
            assert ("broken.yaml", 5, "spec.sever") in located


API_REFUSED = "the SEPM REST API of sepm-east cannot be used: "


@pytest.mark.parametrize(
    ("case", "error", "why"),
    [
        (
            "wrong_password",
            API_REFUSED + "https://127.0.0.1:",
            "the manager refused the credentials of user 'admin' (HTTP 401)",
        ),
        ("untrusted_ca", API_REFUSED + "authentication failed: ", "presents a certificate we do not trust"),
        (
            "wrong_keystore_password",
            "keystore: ",
            "spec.certificate.keystore.password: cannot open the PKCS#12 keystore",
        ),
    ],
    ids=["wrong-password", "ca-bundle-of-another-ca", "wrong-keystore-password"],
)
async def test_what_refuses_us_is_an_error_that_says_why_and_nothing_is_done(
    make_rig: RigFactory, pki: Pki, tmp_path: Path, case: str, error: str, why: str
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    fleet_config = fleet(
        manager("sepm-east", "Site East", old, partners=["Site West"]),
        manager("sepm-west", "Site West", pki.leaf("west-old"), clients=20, partners=["Site East"]),
    )
    async with make_rig(fleet_config) as rig:
        path = write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, partners=["Site West"])
        env = {}
        if case == "wrong_password":
            env["E2E_SEPM_PASSWORD"] = "Wr0ng-Passw0rd-4711"
        elif case == "wrong_keystore_password":
            env["E2E_P12_PASSWORD"] = "Wr0ng-Passw0rd-4711"
        else:
            document = json.loads(path.read_text())
            document["spec"]["server"]["caBundle"] = str(Pki(tmp_path / "other-ca").ca_file)
            path.write_text(json.dumps(document))
        before = rig.truth()["managers"]["sepm-east"]

        code, out, err = await cli("reconcile", *_args(rig, "--output", "json"), env=env)

        assert code == 1, err
        (server,) = json.loads(out)["servers"]
        assert server["error"].startswith(error) and why in server["error"]
        assert why in server["reason"], "the recorded reason says why the rollout holds"
        assert server["code"] == (
            "KeystoreUnusable" if case == "wrong_keystore_password" else "ObservationUnknown"
        )
        assert server["action"] is None and rig.hook_runs() == []
        assert server["phase"] == "drifted", "drift is still seen on the ports; nothing starts"
        if case != "wrong_keystore_password":
            checked = datetime.fromisoformat(server["next_check_at"])
            assert checked - SystemClock().now() > timedelta(seconds=20), (
                "backed off: no burst of failed logins"
            )
        after = rig.truth()["managers"]["sepm-east"]
        for key in ("groups", "replication", "served"):
            assert after[key] == before[key], key

        code, out, err = await cli("plan", *_args(rig, "--output", "json"), env=env)
        assert code == 1, err
        (planned,) = json.loads(out)["servers"]
        assert planned["error"].startswith(error) and why in planned["error"]
        assert "Wr0ng-Passw0rd-4711" not in out + err


async def test_plan_markdown_is_a_pull_request_comment_and_the_state_is_only_read(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, rollout={"approvals": [4]})
        rig.start_engine(clock=SystemClock())
        await rig.tick()
        await rig.tick()
        before = rig.record("sepm-east")
        events = len(rig.store.events())

        code, out, err = await cli("plan", *_args(rig, "--output", "markdown"))

        assert code == 2, err
        assert out.startswith("## sepm-reconciler plan")
        assert (
            "| `sepm-east` | step 2a/7 (switching_to_http_list) | assign the management server list "
            "Default Management Server List (HTTP) to every group and location (command)" in out
        )
        assert "| · 4b clients fetch the new certificate | wait |" in out
        assert "| step | by | waits for | gates | earliest end |" in out
        assert "needs an approval: sepm-reconciler approve sepm-east --step 4" in out
        after = rig.record("sepm-east")
        assert after.version == before.version and len(rig.store.events()) == events, "plan wrote nothing"
        rig.assert_no_orphans("sepm-east")


async def test_reconcile_refuses_invalid_specs_and_unknown_servers_without_doing_anything(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)

        code, _, err = await cli("reconcile", *_args(rig, "--server", "sepm-nowhere"))
        assert code == 64 and "no server sepm-nowhere" in err and "sepm-east" in err

        (rig.specs_dir / "broken.yaml").write_text(
            "apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {}\n"
        )
        code, _, err = await cli("reconcile", *_args(rig))
        assert code == 1 and "broken.yaml:" in err and "nothing was done" in err
        assert rig.store.all() == [] and rig.hook_runs() == []


async def test_reconcile_names_a_server_removed_from_the_specs_and_leaves_it_as_it_is(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config = fleet(
        manager("sepm-east", "Site East", pki.leaf("east-old"), clients=20),
        manager("sepm-west", "Site West", pki.leaf("west-old"), clients=20),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, pki.leaf("east-new"))
        west = write_spec(rig.specs_dir, rig.sim, "sepm-west", pki, pki.leaf("west-new"))
        assert (await cli("reconcile", *_args(rig)))[0] == 0
        before = rig.record("sepm-west")
        west.unlink()

        code, out, err = await cli("reconcile", *_args(rig))
        assert code == 0, err
        assert (
            "sepm-west: in the state but no longer in the specs: left as it is, breaking_replication (step 1/7)"
            in out
        )
        code, out, err = await cli("reconcile", *_args(rig, "--output", "json"))
        assert json.loads(out)["unmanaged"] == [
            {"name": "sepm-west", "phase": "breaking_replication", "step": 1}
        ]
        assert rig.record("sepm-west") == before, "nothing of it was touched"
        rig.assert_no_orphans("sepm-west")


async def _wait_for(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Poll ``predicate`` (a file another process writes, the simulator's state) until it holds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the condition is set by another process: nothing to await
            await asyncio.sleep(0.05)


async def test_reconcile_killed_while_its_certificate_hook_runs_never_runs_the_hook_twice(
    make_rig: RigFactory, pki: Pki, tmp_path: Path
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        engine = rig.start_engine(clock=SystemClock())  # the subprocesses run on the real clock too
        for _ in range(30):  # in-process up to the certificate swap; only the managers' clock is moved
            (result,) = await rig.tick()
            if result.phase_after is Phase.UPDATING_CERTIFICATE:
                break
            rig.advance_simulator(timedelta(hours=4))
        assert rig.record("sepm-east").phase is Phase.UPDATING_CERTIFICATE

        ready, go = tmp_path / "hook-ready", tmp_path / "hook-go"
        env = {**os.environ, "E2E_READY_FILE": str(ready), "E2E_GO_FILE": str(go)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "reconcile", *_args(rig),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await _wait_for(ready.exists)
        except TimeoutError:
            proc.kill()
            said, _ = await proc.communicate()
            raise AssertionError(said.decode()) from None
        (attempt,) = [a for a in rig.record("sepm-east").attempts if a.kind is ActionKind.UPDATE_CERTIFICATE]
        assert attempt.outcome is AttemptOutcome.PENDING, "the attempt was on disk before the hook started"
        proc.kill()  # SIGKILL: between the action and the persist of its result
        assert await proc.wait() == -9

        code, out, err = await cli("reconcile", *_args(rig, "--output", "json"), env=env)
        assert code == 0, err
        (server,) = json.loads(out)["servers"]
        assert server["phase"] == "updating_certificate" and server["action"] is None
        assert server["code"] == "EffectPending", server["reason"]

        go.touch()  # the orphaned hook finishes its work
        await _wait_for(
            lambda: set(rig.truth()["managers"]["sepm-east"]["served"].values()) == {new.fingerprint}
        )
        code, out, err = await cli("reconcile", *_args(rig, "--output", "json"), env=env)
        assert code == 0, err
        (server,) = json.loads(out)["servers"]
        assert server["phase"] == "clients_fetching_certificate", server["reason"]
        assert (server["step"], server["substep"]) == (4, "4b")
        (attempt,) = [a for a in rig.record("sepm-east").attempts if a.kind is ActionKind.UPDATE_CERTIFICATE]
        assert attempt.outcome is AttemptOutcome.SUPERSEDED, "its effect was observed: no result needed"

        for _ in range(30):
            (result,) = await engine.tick_all()
            if result.phase_after is Phase.IN_SYNC:
                break
            rig.advance_simulator(timedelta(hours=4))
        assert rig.record("sepm-east").in_sync
        assert len([r for r in rig.hook_runs() if r["step"] == "4"]) == 1, "the hook ran once, in all"
        rig.assert_no_orphans("sepm-east")


async def test_reconcile_shows_the_console_instructions_of_a_manual_step_and_runs_nothing(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config = fleet(
        manager("sepm-east", "Site East", pki.leaf("east-old"), partners=["Site West"]),
        manager("sepm-west", "Site West", pki.leaf("west-old"), clients=20, partners=["Site East"]),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(
            rig.specs_dir, rig.sim, "sepm-east", pki, pki.leaf("east-new"), partners=["Site West"], actions={}
        )

        first = await cli("reconcile", *_args(rig))
        second = await cli("reconcile", *_args(rig))

        assert first[0] == 0 and second[0] == 0, second[2]
        assert "sepm-east: (first look) → breaking_replication (step 1/7)" in first[1]
        assert (
            "to do by hand (step 1): In the SEPM console of site Site East: Admin > Servers > Local Site"
            in second[1]
        )
        assert "select Site West > Delete Replication Partner" in second[1]
        assert rig.hook_runs() == [] and rig.truth()["managers"]["sepm-east"]["replication"]["partners"] == [
            "Site West"
        ]
        status, out, _ = await cli("status", "--state", rig.state_url, "--output", "json")
        (server,) = json.loads(out)["servers"]
        assert status == 0 and server["action"]["performer"] == "manual" and server["step"] == 1
        rig.assert_no_orphans("sepm-east")
