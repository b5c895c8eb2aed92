"""The endpoints answer only requests that name this daemon in their Host header (DNS rebinding cannot read them):
the policy, table-driven, then a real daemon refusing a forged Host on every endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.hosts import HostPolicy, parse_allowed_hosts
from tests.daemon.inproc import running_daemon
from tests.specs.helpers import spec

LOOPBACK = HostPolicy("127.0.0.1")
EVERYWHERE = HostPolicy(
    "0.0.0.0",  # noqa: S104 - a policy for a daemon listening everywhere, nothing binds here
    ("sepm-reconciler.corp.example", "*.svc.cluster.local"),
)
EVERYWHERE_V6 = HostPolicy("::")
ONE_ADDRESS = HostPolicy("10.1.2.3")
BY_NAME = HostPolicy("status.corp.example")


@pytest.mark.parametrize(
    ("policy", "header", "allowed"),
    [
        pytest.param(LOOPBACK, "127.0.0.1:9370", True, id="loopback-the-listen-address"),
        pytest.param(LOOPBACK, "localhost:9370", True, id="loopback-localhost"),
        pytest.param(LOOPBACK, "LOCALHOST.", True, id="loopback-localhost-any-case-trailing-dot"),
        pytest.param(LOOPBACK, "[::1]:9370", True, id="loopback-ipv6"),
        pytest.param(LOOPBACK, "127.0.0.2", True, id="loopback-another-loopback-address"),
        pytest.param(LOOPBACK, "attacker.example:9370", False, id="loopback-rebound-name"),
        pytest.param(LOOPBACK, "10.1.2.3:9370", False, id="loopback-another-address"),
        pytest.param(LOOPBACK, "localhost.attacker.example", False, id="loopback-look-alike"),
        pytest.param(LOOPBACK, "", False, id="missing"),
        pytest.param(LOOPBACK, None, False, id="absent"),
        pytest.param(LOOPBACK, "[", False, id="broken-brackets"),
        pytest.param(LOOPBACK, "127.0.0.1:9370:80", False, id="two-ports"),
        pytest.param(EVERYWHERE, "10.244.1.7:9370", True, id="wildcard-pod-ip-probe"),
        pytest.param(EVERYWHERE, "127.0.0.1:9370", True, id="wildcard-healthcheck"),
        pytest.param(EVERYWHERE, "localhost:9370", True, id="wildcard-port-forward"),
        pytest.param(EVERYWHERE, "sepm-reconciler.corp.example", True, id="wildcard-configured-name"),
        pytest.param(EVERYWHERE, "sepm-reconciler.sepm.svc.cluster.local:9370", True, id="wildcard-suffix"),
        pytest.param(EVERYWHERE, "svc.cluster.local", False, id="suffix-is-not-the-bare-domain"),
        pytest.param(EVERYWHERE, "attacker.example", False, id="wildcard-rebound-name"),
        pytest.param(EVERYWHERE_V6, "[fd00::7]:9370", True, id="ipv6-wildcard-address"),
        pytest.param(EVERYWHERE_V6, "evil.example", False, id="ipv6-wildcard-name"),
        pytest.param(ONE_ADDRESS, "10.1.2.3:9370", True, id="one-address-itself"),
        pytest.param(ONE_ADDRESS, "10.1.2.4:9370", False, id="one-address-another"),
        pytest.param(ONE_ADDRESS, "localhost", False, id="one-address-localhost"),
        pytest.param(BY_NAME, "Status.Corp.Example:9370", True, id="listen-name"),
        pytest.param(BY_NAME, "other.corp.example", False, id="listen-name-another"),
    ],
)
def test_only_a_host_naming_this_daemon_is_answered(
    policy: HostPolicy, header: str | None, allowed: bool
) -> None:
    assert policy.allows(header) is allowed


def test_allowed_host_values_split_on_commas_and_spaces_and_refuse_what_is_no_name() -> None:
    assert parse_allowed_hosts(("a.example, B.example.", "*.svc.cluster.local [fd00::1]")) == (
        "a.example",
        "b.example",
        "*.svc.cluster.local",
        "fd00::1",
    )
    with pytest.raises(ValueError, match=r"^'http://x' is not a host name"):
        parse_allowed_hosts(("http://x",))


def test_a_bad_allowed_host_from_the_environment_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEPM_RECONCILER_ALLOWED_HOSTS", "ok.example,not/a/name")
    with pytest.raises(SystemExit) as exited:
        main(["run", "--specs", str(tmp_path), "--state", f"sqlite:///{tmp_path / 's.db'}"])
    assert exited.value.code == 64
    assert "error: --allowed-host: 'not/a/name' is not a host name" in capsys.readouterr().err


async def test_a_forged_host_gets_421_from_every_endpoint_and_a_configured_one_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SEPM_USER", "svc")
    monkeypatch.setenv("SEPM_PASSWORD", "pw")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "east.yaml").write_text(spec(("https://sepm-east-01.corp.example:8446", "https://127.0.0.1:9")))
    config = DaemonConfig(
        specs=specs,
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        port=0,
        watch_period=3600,
        allowed_hosts=("status.corp.example",),
    )
    async with running_daemon(config) as (daemon, http):
        for path in ("/api/status", "/metrics", "/", "/healthz", "/readyz", "/nope"):
            refused = await http.get(path, headers={"Host": f"attacker.example:{daemon.port}"})
            assert refused.status_code == 421, path
            assert refused.text == (
                "421 misdirected request: this daemon does not answer to that Host (see --allowed-host)\n"
            )
            assert "sepm-east-01" not in refused.text
        assert (await http.get("/api/status")).status_code == 200  # Host: 127.0.0.1:PORT
        assert (
            await http.get("/api/status", headers={"Host": f"localhost:{daemon.port}"})
        ).status_code == 200
        named = await http.get("/api/status", headers={"Host": "status.corp.example"})
        assert named.status_code == 200 and "sepm-east-01" in named.text
    refusals = [r.getMessage() for r in caplog.records if "refused a request for Host" in r.getMessage()]
    assert refusals == [
        f"refused a request for Host 'attacker.example:{daemon.port}': not a name of this daemon "
        "(DNS rebinding?); if it is one, add it with --allowed-host or SEPM_RECONCILER_ALLOWED_HOSTS"
    ]
