"""Property tests: the spec model survives a trip through its YAML form (camelCase aliases, duration strings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.durations import format_duration, parse_duration
from reconciler.core.spec import (
    Actions,
    ClientPolicy,
    CommandAction,
    Credentials,
    DesiredCertificate,
    EnvRef,
    FileRef,
    Keystore,
    ManagedServer,
    Metadata,
    Mode,
    Ports,
    Replication,
    Rollout,
    ServerConnection,
    ServerSpec,
    Weekday,
    Window,
)
from reconciler.specs import load_specs

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=20,
)
_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
_HOST = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){1,3}", fullmatch=True)
_ABSOLUTE = st.from_regex(r"/run/secrets/[a-z0-9_.-]{1,20}", fullmatch=True)
_ENV = st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True)
_SECRET = st.one_of(st.builds(EnvRef, env=_ENV), st.builds(FileRef, file=_ABSOLUTE))
_SECONDS = st.integers(min_value=0, max_value=400 * 86400).map(lambda s: timedelta(seconds=s))
_POSITIVE = st.integers(min_value=1, max_value=30 * 86400).map(lambda s: timedelta(seconds=s))
_PORT = st.integers(min_value=1, max_value=65535)
_TIME = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@st.composite
def _window(draw: st.DrawFn) -> Window:
    start = draw(_TIME)
    end = draw(_TIME.filter(lambda t: t != start))
    days = draw(st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True))
    zone = draw(st.sampled_from(["UTC", "Europe/Madrid", "America/New_York", "Asia/Tokyo"]))
    return Window(days=days, start=start, end=end, timezone=zone)


@st.composite
def _clients(draw: st.DrawFn) -> ClientPolicy:
    soaks = sorted([draw(_SECONDS), draw(_POSITIVE)])
    return ClientPolicy(
        groups=draw(st.lists(_TEXT.filter(str.strip), max_size=3, unique=True)),
        min_ack_ratio=draw(st.floats(min_value=0.0, max_value=1.0, allow_nan=False)),
        exclude_offline_for=soaks[0] + draw(_POSITIVE),
        min_soak=soaks[0],
        heartbeat=draw(_POSITIVE),
        max_soak=max(soaks[1], timedelta(seconds=1)),
    )


_ACTION = st.one_of(
    st.just("manual"),
    st.builds(
        CommandAction,
        command=st.lists(_TEXT.filter(str.strip), min_size=1, max_size=4),
        timeout=_POSITIVE,
        max_attempts=st.integers(1, 20),
    ),
)


@st.composite
def managed_servers(draw: st.DrawFn) -> ManagedServer:
    site = draw(_TEXT.filter(str.strip))
    host = draw(_HOST)
    certificate = draw(
        st.one_of(
            st.builds(lambda f: DesiredCertificate(file=f), _ABSOLUTE),
            st.builds(
                lambda h: DesiredCertificate(fingerprint="sha256:" + h),
                st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
            ),
        )
    )
    keystore = draw(st.none() | st.builds(Keystore, file=_ABSOLUTE, password=st.none() | _SECRET))
    certificate = certificate.model_copy(update={"keystore": keystore, "expiry_warning": draw(_SECONDS)})
    return ManagedServer(
        api_version="sepm-reconciler/v1",
        kind="ManagedServer",
        metadata=Metadata(
            name=draw(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)),
            labels=draw(st.dictionaries(_LABEL, _TEXT, max_size=3)),
        ),
        spec=ServerSpec(
            server=ServerConnection(
                api_url=f"https://{host}:{draw(_PORT)}/sepm/api/v1",
                ports=Ports(clients=draw(_PORT), console=draw(_PORT), api=draw(_PORT)),
                site=site,
                ca_bundle=draw(st.none() | _ABSOLUTE),
                credentials=Credentials(
                    username=draw(st.one_of(_TEXT, _SECRET)),
                    password=draw(_SECRET),
                    domain=draw(st.just("") | _TEXT),
                ),
                timeout=draw(_POSITIVE),
            ),
            certificate=certificate,
            replication=Replication(
                partners=draw(
                    st.lists(_TEXT.filter(lambda s: s.strip() and s != site), max_size=3, unique=True)
                )
            ),
            rollout=Rollout(
                mode=draw(st.sampled_from(list(Mode))),
                clients=draw(_clients()),
                approvals=sorted(draw(st.lists(st.integers(1, 7), unique=True, max_size=7))),
                window=draw(st.none() | _window()),
                actions=Actions(
                    break_replication=draw(_ACTION),
                    update_certificate=draw(_ACTION),
                    restore_replication=draw(_ACTION),
                ),
            ),
        ),
    )


@given(server=managed_servers())
@settings(max_examples=150, deadline=None)
def test_the_model_round_trips_through_its_camel_case_json_form(server: ManagedServer) -> None:
    data = server.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert ManagedServer.model_validate(data, by_alias=True, by_name=False) == server


@given(server=managed_servers())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_model_round_trips_through_a_yaml_spec_file(server: ManagedServer, tmp_path: Path) -> None:
    text = yaml.safe_dump(
        server.model_dump(by_alias=True, mode="json", exclude_none=True), allow_unicode=True
    )
    (tmp_path / "server.yaml").write_text(text, encoding="utf-8")
    spec_set = load_specs(tmp_path / "server.yaml")
    assert [str(i) for i in spec_set.errors] == []
    assert spec_set.servers[server.name].spec == server


@given(_SECONDS)
def test_durations_round_trip_through_their_shortest_form(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("24h", 86400), ("7d", 604800), ("1d12h", 129600), (" 2h ", 7200)],
)
def test_durations_accept_the_documented_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2w", "invalid duration '2w': use a number and a unit s, m, h or d, e.g. 30s, 15m, 24h, 7d"),
        ("1h1h", "invalid duration '1h1h': each unit may appear once, e.g. 1d12h"),
        ("99999999d", "invalid duration '99999999d': longer than 36500d (a century)"),
        ("-5m", "invalid duration '-5m': use a number and a unit s, m, h or d, e.g. 30s, 15m, 24h, 7d"),
    ],
)
def test_bad_durations_say_how_to_write_them(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == message
