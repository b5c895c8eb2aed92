"""``gather``: live observation of every server of a spec set — concurrent, never acting, never writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.clock import FakeClock
from reconciler.engine import gather
from reconciler.engine.gather import keystore_problem
from reconciler.errors import CertificateError, SecretError, SpecError
from reconciler.sepm import ClientLedger
from reconciler.specs import LoadedServer, load_specs
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import P12_PASSWORD, SIM_START, Leaf, Pki, fleet, manager, write_spec


async def test_gather_observes_every_server_with_its_record_and_partners_and_writes_nothing(
    make_rig: RigFactory, pki: Pki
) -> None:
    east_old, east_new, west_old, west_new = (pki.leaf(n) for n in ("e-old", "e-new", "w-old", "w-new"))
    fleet_config = fleet(
        manager("sepm-east", "Site East", east_old, clients=40, partners=["Site West"]),
        manager("sepm-west", "Site West", west_old, clients=40, partners=["Site East"]),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, east_new, partners=["Site West"])
        write_spec(rig.specs_dir, rig.sim, "sepm-west", pki, west_new, partners=["Site East"])
        rig.start_engine()
        await rig.tick()  # both records exist now
        versions = {r.server: r.version for r in rig.store.all()}
        events = len(rig.store.events())
        ledgers: dict[str, ClientLedger] = {}

        gathered = await gather(rig.load(), rig.store, clock=FakeClock(SIM_START), ledgers=ledgers)

        assert list(gathered) == ["sepm-east", "sepm-west"]
        east = gathered["sepm-east"]
        assert east.desired == east_new.fingerprint and east.error is None
        assert east.record is not None and east.record.version == versions["sepm-east"]
        assert set(east.partners) == {"Site West"} and east.partners["Site West"].server == "sepm-west"
        assert east.observation is not None
        assert set(east.observation.served_fingerprints().values()) == {east_old.fingerprint}
        assert east.observation.clients is not None and east.observation.clients.total == 40
        assert set(ledgers) == {"sepm-east", "sepm-west"} and len(ledgers["sepm-west"]) == 40
        assert {r.server: r.version for r in rig.store.all()} == versions, "gather never writes the store"
        assert len(rig.store.events()) == events


async def test_gather_carries_one_servers_spec_problems_without_stopping_the_others(
    make_rig: RigFactory, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaves = {n: pki.leaf(n) for n in ("a-old", "a-new", "b-old", "c-old", "c-new")}
    missing = pki.leaf("b-new")
    fleet_config = fleet(
        manager("sepm-a", "Site A", leaves["a-old"], clients=20),
        manager("sepm-b", "Site B", leaves["b-old"], clients=20),
        manager("sepm-c", "Site C", leaves["c-old"], clients=20),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-a", pki, leaves["a-new"])
        write_spec(rig.specs_dir, rig.sim, "sepm-b", pki, missing)
        path = write_spec(rig.specs_dir, rig.sim, "sepm-c", pki, leaves["c-new"])
        missing.cert_file.unlink()  # sepm-b's desired certificate file is gone
        path.write_text(
            path.read_text().replace("E2E_SEPM_PASSWORD", "E2E_UNSET_PASSWORD")
        )  # sepm-c: no secret
        monkeypatch.delenv("E2E_UNSET_PASSWORD", raising=False)

        gathered = await gather(rig.load(), None, clock=FakeClock(SIM_START))

        a, b, c = gathered["sepm-a"], gathered["sepm-b"], gathered["sepm-c"]
        assert a.error is None and a.observation is not None and a.record is None
        assert b.desired is None and isinstance(b.desired_error, CertificateError)
        assert b.observation is not None, "the manager is still observed (a report shows what it serves)"
        assert b.error is not None and "desired certificate" in b.error
        assert c.observation is None and isinstance(c.observation_error, SecretError)
        assert c.error is not None and "E2E_UNSET_PASSWORD is not set" in c.error


async def test_gather_refuses_a_name_that_is_not_in_the_specs(make_rig: RigFactory, pki: Pki) -> None:
    async with make_rig(fleet(manager("sepm-a", "Site A", pki.leaf("a-old"), clients=10))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-a", pki, pki.leaf("a-new"))
        with pytest.raises(SpecError, match=r"no server named 'sepm-z' in the specs .* \(servers: sepm-a\)"):
            await gather(rig.load(), None, names=["sepm-z"], clock=FakeClock(SIM_START))


def _keystore_spec(directory: Path, desired: Leaf, keystore: Path) -> LoadedServer:
    document = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": "sepm-ks"},
        "spec": {
            "server": {
                "apiUrl": "https://127.0.0.1:1/sepm/api/v1",
                "site": "Site KS",
                "credentials": {"username": "admin", "password": {"env": "E2E_SEPM_PASSWORD"}},
            },
            "certificate": {
                "file": str(desired.cert_file),
                "keystore": {"file": str(keystore), "password": {"env": "E2E_P12_PASSWORD"}},
            },
        },
    }
    (directory / "ks.yaml").write_text(json.dumps(document))  # JSON is YAML
    return load_specs(directory / "ks.yaml").servers["sepm-ks"]


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("usable", None),
        ("another-certificate", "step 4 would install the wrong certificate"),
        ("wrong-password", "spec.certificate.keystore.password: cannot open the PKCS#12 keystore"),
        ("missing-file", "spec.certificate.keystore.file: "),
        ("jks", None),
    ],
    ids=["usable", "another-certificate", "wrong-password", "missing-file", "jks-cannot-be-inspected"],
)
def test_the_keystore_is_checked_before_a_rollout_may_use_it(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch, case: str, problem: str | None
) -> None:
    desired = pki.leaf("ks-new")
    keystore = {
        "another-certificate": pki.leaf("ks-other").p12_file,
        "missing-file": tmp_path / "nowhere.p12",
        "jks": tmp_path / "keystore.jks",
    }.get(case, desired.p12_file)
    (tmp_path / "keystore.jks").write_bytes(
        b"\xfe\xed\xfe\xed" + bytes(60)
    )  # a JKS header: SEPM's own format
    monkeypatch.setenv("E2E_P12_PASSWORD", "not-the-password" if case == "wrong-password" else P12_PASSWORD)

    found = keystore_problem(_keystore_spec(tmp_path, desired, keystore))

    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert found.startswith(f"{tmp_path / 'ks.yaml'}:"), "located: file:line:col: field: message"
