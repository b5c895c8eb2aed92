"""The adapter's public surface, and building a client from a spec (secrets, caBundle)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import reconciler.sepm as sepm
from reconciler.errors import Error, PermanentError, SecretError, TemporaryError
from reconciler.sepm import open_client
from reconciler.sepm.actions import secure_communications_body
from reconciler.specs import LoadedServer, load_specs
from tests.sepm.pki import Issued
from tests.sepm.scripted import Reply, ScriptedServer, auth_reply
from tests.sim.swagger import validate_definition


def test_the_public_surface_is_exactly_what_the_package_exports() -> None:
    assert sorted(sepm.__all__) == sorted(
        [
            "ApiError", "ClientLedger", "CollateralSettingsChange", "ProbeReport", "Rehearsal", "RetryPolicy",
            "ScanInconsistent", "ScanStats", "SepmClient", "SepmCredentials", "SettingResult", "SettingsDocument",
            "ThrottledError", "UntrustedCertificateError", "observe", "observe_port", "observe_ports",
            "open_client", "parse_policy_serial", "read_settings", "rehearse", "replicate_now", "reread_groups", "run_probe",
            "set_secure_communications", "tls_context",
        ]
    )  # fmt: skip
    for name in sepm.__all__:
        assert getattr(sepm, name) is not None
    assert issubclass(sepm.ApiError, PermanentError) and issubclass(sepm.UntrustedCertificateError, Error)
    assert issubclass(sepm.ThrottledError, TemporaryError) and issubclass(
        sepm.ScanInconsistent, TemporaryError
    )
    assert issubclass(sepm.CollateralSettingsChange, PermanentError)
    assert sepm.CollateralSettingsChange.code == "CollateralSettingsChange"


def write_spec(
    directory: Path, api_url: str, ca_bundle: str, password: dict[str, str], username: object = "admin"
) -> LoadedServer:
    """One spec file in ``directory``, loaded as the commands load it (relative paths against its directory)."""
    document = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": "sepm-test"},
        "spec": {
            "server": {
                "apiUrl": api_url,
                "site": "Site Test",
                "caBundle": ca_bundle,
                "credentials": {"username": username, "password": password, "domain": "CORP"},
                "timeout": "7s",
            },
            "certificate": {"fingerprint": "sha256:" + "a" * 64},
        },
    }
    (directory / "test.yaml").write_text(json.dumps(document, indent=2))  # JSON is YAML
    spec_set = load_specs(directory)
    assert spec_set.valid, [str(e) for e in spec_set.errors]
    return spec_set.servers["sepm-test"]


async def test_a_client_from_a_spec_resolves_its_secrets_and_trusts_its_ca_bundle(
    server: ScriptedServer, pki: dict[str, Issued], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pw").write_text("from-a-file\n")
    (tmp_path / "ca.pem").write_bytes(pki["ca"].cert_file.read_bytes())
    monkeypatch.setenv("SEPM_TEST_USER", "svc-reconciler")
    server.on("POST", "/sepm/api/v1/identity/authenticate", auth_reply())
    server.on("GET", "/sepm/api/v1/version", Reply(200, {"version": "14.3"}))
    loaded = write_spec(tmp_path, server.url, "ca.pem", {"file": "pw"}, username={"env": "SEPM_TEST_USER"})
    async with open_client(loaded) as client:  # relative paths: against the spec's directory
        assert client.timeout == 7.0
        assert "from-a-file" not in repr(client)
        await client.get_json("version")
    (auth,) = server.calls("POST", "/sepm/api/v1/identity/authenticate")
    assert auth.json() == {"username": "svc-reconciler", "password": "from-a-file", "domain": "CORP"}


@pytest.mark.parametrize(
    ("field", "username", "password", "remedy"),
    [
        (
            "password",
            "admin",
            {"env": "SEPM_TEST_NOT_SET_ANYWHERE"},
            "environment variable SEPM_TEST_NOT_SET_ANYWHERE is not set: export SEPM_TEST_NOT_SET_ANYWHERE in "
            "the environment of the process that runs sepm-reconciler",
        ),
        (
            "password",
            "admin",
            {"file": "missing.pw"},
            "No such file or directory: give that process a readable file whose first line is the secret",
        ),
        (
            "username",
            {"env": "SEPM_TEST_NO_USER"},
            {"env": "SEPM_TEST_NO_USER"},
            "environment variable SEPM_TEST_NO_USER is not set",
        ),
    ],
    ids=["password-env-unset", "password-file-missing", "username-env-unset"],
)
def test_an_unresolvable_secret_is_a_secret_error_located_in_the_spec(
    tmp_path: Path,
    pki: dict[str, Issued],
    field: str,
    username: object,
    password: dict[str, str],
    remedy: str,
) -> None:
    loaded = write_spec(
        tmp_path, "https://127.0.0.1:1", str(pki["ca"].cert_file), password, username=username
    )
    with pytest.raises(SecretError) as caught:
        open_client(loaded)
    assert caught.value.field == f"spec.server.credentials.{field}"
    assert caught.value.location == str(loaded.locate(f"spec.server.credentials.{field}"))
    assert str(caught.value).startswith(f"{tmp_path / 'test.yaml'}:") and remedy in str(caught.value)


def test_an_unreadable_ca_bundle_is_a_permanent_error_located_in_the_spec(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    loaded = write_spec(tmp_path, "https://127.0.0.1:1", "ca.pem", {"env": "SEPM_TEST_PASSWORD"})
    with pytest.raises(PermanentError) as caught, pytest.MonkeyPatch.context() as env:
        env.setenv("SEPM_TEST_PASSWORD", "pw")
        open_client(loaded)
    assert str(caught.value).startswith(f"{loaded.locate('spec.server.caBundle')}: caBundle ")
    assert "cannot be loaded as PEM certificates" in str(caught.value)


@pytest.mark.parametrize("enabled", [False, True], ids=["off", "on"])
def test_the_settings_patch_body_is_the_vendors_shape_and_nothing_more(enabled: bool) -> None:
    body = secure_communications_body(enabled)
    validate_definition(body, "SettingsGroupSettingsConfigurationObject")
    assert body == {
        "configuration": {"general_settings": {"security_settings": {"secure_communications": enabled}}}
    }
    with pytest.raises(jsonschema.ValidationError):  # the schema does check the flag's type
        wrong = {
            "configuration": {"general_settings": {"security_settings": {"secure_communications": "no"}}}
        }
        validate_definition(wrong, "SettingsGroupSettingsConfigurationObject")
