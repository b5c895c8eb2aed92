"""Carrying out an action: the hook's documented environment (secrets only there, masked in its output), manual
actions that run nothing, and the JSON form of a tick's result."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.actions import BreakReplication, Performer, UpdateCertificate
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from reconciler.engine.act import ActionOutcome, hook_variables, perform_action
from reconciler.errors import SecretError
from reconciler.specs import LoadedServer
from tests.support.manager import NEW, hooked

P12 = "p12-S3cret-value"
API = "api-S3cret-value"


def loaded(keystore: str | None = "/run/secrets/sepm-east-01.p12") -> LoadedServer:
    spec = hooked(keystore=keystore)
    return LoadedServer(
        spec=spec, source=Path("/specs/east.yaml"), line=1, base_dir=Path("/specs"), file="east.yaml"
    )


def update(command: tuple[str, ...] = ("/opt/hooks/sepm-step", "--verbose")) -> UpdateCertificate:
    return UpdateCertificate(
        step=4,
        performer=Performer.COMMAND,
        summary="install certificate sha256:b2b2… and restart the SEPM services",
        instructions="run /opt/hooks/sepm-step",
        attempt=2,
        max_attempts=3,
        command=command,
        timeout=timedelta(seconds=20),
        fingerprint=NEW,
        keystore_file="/run/secrets/sepm-east-01.p12",
    )


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P12_PASSWORD", P12)
    monkeypatch.setenv("SEPM_PASSWORD", API)


@pytest.mark.usefixtures("secrets")
def test_the_certificate_hook_gets_the_documented_environment_with_the_password_only_there() -> None:
    action = update()

    variables, masked = hook_variables(loaded(), action, rollout_id="r-20261201T0800Z-1a2b3c4d", desired=NEW)

    assert variables == {
        "SEPM_RECONCILER_SERVER": "sepm-east-01",
        "SEPM_RECONCILER_STEP": "4",
        "SEPM_RECONCILER_STEP_NAME": "update_certificate",
        "SEPM_RECONCILER_ROLLOUT_ID": "r-20261201T0800Z-1a2b3c4d",
        "SEPM_RECONCILER_ATTEMPT": "2",
        "SEPM_RECONCILER_API_URL": "https://sepm-east-01.corp.example:8446/sepm/api/v1",
        "SEPM_RECONCILER_SITE": "Site East",
        "SEPM_RECONCILER_DESIRED_FINGERPRINT": NEW,
        "SEPM_RECONCILER_KEYSTORE_FILE": "/run/secrets/sepm-east-01.p12",
        "SEPM_RECONCILER_KEYSTORE_PASSWORD": P12,
    }
    assert set(masked) == {P12, API}, "every secret the spec references is masked in the hook's output"
    assert all(P12 not in arg for arg in action.command)


@pytest.mark.usefixtures("secrets")
def test_the_replication_hooks_get_their_partners_and_no_keystore() -> None:
    action = BreakReplication(
        step=1,
        performer=Performer.COMMAND,
        summary="break replication with Site West",
        instructions="",
        attempt=1,
        max_attempts=3,
        command=("/opt/hooks/sepm-step",),
        timeout=timedelta(minutes=5),
        site="Site East",
        partners=("Site West", "Site North"),
    )

    variables, _ = hook_variables(loaded(), action, rollout_id="r-1", desired=NEW)

    assert variables["SEPM_RECONCILER_PARTNERS"] == "Site West,Site North"
    assert variables["SEPM_RECONCILER_STEP"] == "1"
    assert not any(name.startswith("SEPM_RECONCILER_KEYSTORE") for name in variables)


def test_a_relative_keystore_path_is_made_absolute_against_the_spec_directory(secrets: None) -> None:
    variables, _ = hook_variables(loaded(keystore="keys/east.p12"), update(), rollout_id="r-1", desired=NEW)

    assert variables["SEPM_RECONCILER_KEYSTORE_FILE"] == "/specs/keys/east.p12"


def test_an_unset_keystore_password_is_a_secret_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("P12_PASSWORD", raising=False)

    with pytest.raises(
        SecretError, match=r"^spec\.certificate\.keystore\.password: environment variable P12_PASSWORD"
    ):
        hook_variables(loaded(), update(), rollout_id="r-1", desired=NEW)


@pytest.mark.usefixtures("secrets")
async def test_a_real_hook_run_reports_its_exit_status_and_its_output_with_secrets_masked(
    tmp_path: Path,
) -> None:
    script = "import os, sys; print('installed with', os.environ['SEPM_RECONCILER_KEYSTORE_PASSWORD']); sys.exit(3)"
    action = update(command=(sys.executable, "-c", script))
    server = replace(loaded(), base_dir=tmp_path)  # hooks run in the spec file's directory: it must exist

    outcome = await perform_action(
        action, server=server, client=None, observation=None, rollout_id="r-1", desired=NEW
    )

    assert not outcome.succeeded and outcome.exit_code == 3
    assert outcome.detail.startswith("exit 3 in ") and outcome.detail.endswith(
        "last output: installed with ***"
    )
    assert P12 not in outcome.output_tail


async def test_a_manual_action_runs_nothing() -> None:
    action = UpdateCertificate(
        step=4,
        performer=Performer.MANUAL,
        summary="install the certificate",
        instructions="In the SEPM console…",
        fingerprint=NEW,
        keystore_file=None,
    )
    outcome = await perform_action(
        action,
        server=loaded(),
        client=None,
        observation=None,
        rollout_id="r-1",
        desired=NEW,
    )
    assert outcome == ActionOutcome(False, "manual: an operator performs it (nothing was run)")


def test_a_tick_result_in_json_names_the_action_and_its_outcome() -> None:
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    result = TickResult(
        server="sepm-east-01",
        started_at=at,
        duration_s=0.25,
        phase_before=Phase.UPDATING_CERTIFICATE,
        phase_after=Phase.UPDATING_CERTIFICATE,
        step=4,
        reason="step 4: install certificate … — attempt 2 of 3 (running the hook)",
        next_check_at=at + timedelta(seconds=30),
        action=update(),
        outcome=ActionOutcome(True, "exit 0 in 1.2 s", exit_code=0, duration_s=1.2),
        rollout_id="r-1",
    )

    document = result.to_json()

    assert document["phase"] == "updating_certificate" and document["step"] == 4 and not document["moved"]
    assert document["action"]["kind"] == "update_certificate" and document["action"]["attempt"] == 2
    assert document["action"]["outcome"] == {
        "succeeded": True,
        "exit_code": 0,
        "detail": "exit 0 in 1.2 s",
        "duration_s": 1.2,
    }
    assert document["next_check_at"] == "2026-12-01T08:00:30Z"
    assert document["observed_fingerprints"] is None and document["error"] is None
