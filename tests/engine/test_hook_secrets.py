"""Least secret per hook: real hook subprocesses print the environment they got, and each step's hook finds only
its own secret (step 4: the keystore password, as SEPM_RECONCILER_KEYSTORE_PASSWORD) — never the API password, a
keystore password of another step or server, or the notification webhook URL, under whatever name they are held."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.actions import (
    Action,
    BreakReplication,
    Performer,
    RestoreOriginalList,
    RestoreReplication,
    SwitchToHttpList,
    UpdateCertificate,
)
from reconciler.core.spec import ManagedServer
from reconciler.engine.act import perform_action, spec_secrets
from reconciler.specs import LoadedServer
from tests.core.builders import NEW, hooked

SECRETS = {
    "EAST_API_PASSWORD": "east-api-S3cret",
    "EAST_API_USER": "svc-east-S3cret-user",
    "EAST_P12_PASSWORD": "east-p12-S3cret",
    "WEST_API_PASSWORD": "west-api-S3cret",
    "WEST_P12_PASSWORD": "west-p12-S3cret",
    "MY_WEBHOOK": "https://hooks.example/services/T0ps3cr3t",
}
COPY_OF_API_PASSWORD = "SOME_TOOL_TOKEN"  # the same secret under a name no spec mentions

# The hook: write its whole environment, as JSON, to the file named by an ordinary variable.
DUMP = "import json, os; open(os.environ['HOOK_ENV_DUMP'], 'w').write(json.dumps(dict(os.environ)))"


def server(name: str, prefix: str, tmp_path: Path) -> LoadedServer:
    document: dict[str, Any] = hooked(name=name).model_dump(mode="json", by_alias=True)
    credentials = document["spec"]["server"]["credentials"]
    credentials["password"] = {"env": f"{prefix}_API_PASSWORD"}
    if prefix == "EAST":
        credentials["username"] = {"env": "EAST_API_USER"}
    document["spec"]["certificate"]["keystore"]["password"] = {"env": f"{prefix}_P12_PASSWORD"}
    spec = ManagedServer.model_validate(document)
    return LoadedServer(
        spec=spec, source=tmp_path / f"{name}.yaml", line=1, base_dir=tmp_path, file=f"{name}.yaml"
    )


def hook_action(step: int, argv: tuple[str, ...]) -> Action:
    common: dict[str, Any] = {
        "performer": Performer.COMMAND,
        "summary": f"step {step}",
        "instructions": "",
        "attempt": 1,
        "max_attempts": 3,
        "command": argv,
        "timeout": timedelta(seconds=60),
    }
    if step == 1:
        return BreakReplication(step=1, site="Site East", partners=("Site West",), **common)
    if step == 7:
        return RestoreReplication(step=7, site="Site East", partners=("Site West",), **common)
    if step == 2:
        return SwitchToHttpList(step=2, list_name="Default HTTP", **common)
    if step == 5:
        return RestoreOriginalList(step=5, list_name="Default Management Server List", **common)
    return UpdateCertificate(step=4, fingerprint=NEW, keystore_file="/run/secrets/east.p12", **common)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(COPY_OF_API_PASSWORD, SECRETS["EAST_API_PASSWORD"])
    monkeypatch.setenv("SEPM_RECONCILER_WEBHOOK_URL", "https://hooks.example/default-variable")
    monkeypatch.setenv("HOOKS_PLAIN_SETTING", "kept")


@pytest.mark.usefixtures("environment")
@pytest.mark.parametrize(
    "step", [1, 2, 4, 5, 7], ids=["step1-break", "step2a-list", "step4-swap", "step5b-list", "step7-restore"]
)
async def test_each_hook_gets_only_its_own_secret(
    step: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    east, west = server("sepm-east-01", "EAST", tmp_path), server("sepm-west-01", "WEST", tmp_path)
    dump = tmp_path / "env.json"
    monkeypatch.setenv("HOOK_ENV_DUMP", str(dump))

    outcome = await perform_action(
        hook_action(step, (sys.executable, "-c", DUMP)),
        server=east,
        client=None,
        observation=None,
        rollout_id="r-1",
        desired=NEW,
        withheld=[*spec_secrets([east, west]), SECRETS["MY_WEBHOOK"]],  # what the engine passes
    )

    assert outcome.succeeded, outcome.detail
    env: dict[str, str] = json.loads(dump.read_text())
    holding = {value: sorted(k for k, v in env.items() if v == value) for value in SECRETS.values()}
    own = {4: {SECRETS["EAST_P12_PASSWORD"]: ["SEPM_RECONCILER_KEYSTORE_PASSWORD"]}}.get(step, {})
    assert {value: names for value, names in holding.items() if names} == own
    assert not any(
        secret in value for value in env.values() for secret in SECRETS.values() if secret not in own
    )
    assert "SEPM_RECONCILER_WEBHOOK_URL" not in env
    assert env["SEPM_RECONCILER_STEP"] == str(step) and env["HOOKS_PLAIN_SETTING"] == "kept"
    assert env.get("PATH") and COPY_OF_API_PASSWORD not in env
    lists = {2: "Default HTTP", 5: "Default Management Server List"}
    assert env.get("SEPM_RECONCILER_LIST") == lists.get(step)  # the list hooks' own variable, no one else's


@pytest.mark.usefixtures("environment")
async def test_a_hook_printing_a_withheld_secret_has_it_masked(tmp_path: Path) -> None:
    east, west = server("sepm-east-01", "EAST", tmp_path), server("sepm-west-01", "WEST", tmp_path)
    script = f"print('leaked {SECRETS['WEST_API_PASSWORD']} and {SECRETS['MY_WEBHOOK']}')"

    outcome = await perform_action(
        hook_action(1, (sys.executable, "-c", script)),
        server=east,
        client=None,
        observation=None,
        rollout_id="r-1",
        desired=NEW,
        withheld=[*spec_secrets([east, west]), SECRETS["MY_WEBHOOK"]],
    )

    assert outcome.output_tail.strip() == "leaked *** and ***"


@pytest.mark.usefixtures("environment")
def test_the_specs_secrets_are_every_resolvable_credential_and_keystore_password(tmp_path: Path) -> None:
    east, west = server("sepm-east-01", "EAST", tmp_path), server("sepm-west-01", "WEST", tmp_path)

    assert set(spec_secrets([east, west])) == set(SECRETS.values()) - {SECRETS["MY_WEBHOOK"]}
