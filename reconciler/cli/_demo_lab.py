"""The demo's lab: a private CA, the managers' current and new certificates (PEM and PKCS#12 keystores), a simulator
fleet file, and the specs that declare the new certificates — all written under one directory.

Used by ``sepm-reconciler demo`` and by the daemon's end-to-end tests (with fewer clients and shorter soaks). The
hooks of steps 1, 2a, 4a, 5b and 7 are the simulator hooks of ``deploy/hooks/sim/`` (they drive the simulator's
admin API); they find the simulator through ``SEPM_SIM_PORTS_FILE``. Secrets (the API password, the keystore
password) reach the reconciler only as environment variables named in the specs.

The fleet is the strict simulator, every behaviour at its strict value — every client on an HTTPS management server
list, the new certificate fetched only with a policy that does not verify, lists not shown through the API, a settings
PATCH that replaces the objects it names, no serial move for a no-op PATCH, ``replicationStatus`` as an array, deleted
rows, the REST throttle without ``Retry-After`` — and its clients churn (machines added, removed and re-imaged every
day: :data:`DEMO_CHURN`). Before the rollout, as an operator would (KB 187099), the HTTP copy of each site's list is
made (:func:`copy_http_lists`).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reconciler.certs.generate import make_ca

__all__ = [
    "DEMO_CHURN",
    "DEMO_MANAGERS",
    "HTTP_LIST",
    "ORIGINAL_LIST",
    "P12_PASSWORD_ENV",
    "PASSWORD_ENV",
    "TRY_MANAGERS",
    "Lab",
    "Leaf",
    "ManagerPlan",
    "build_lab",
    "copy_http_lists",
    "sim_hooks_dir",
    "write_specs",
]

PASSWORD_ENV = "SEPM_DEMO_PASSWORD"  # noqa: S105 - the name of a variable, not a password
P12_PASSWORD_ENV = "SEPM_DEMO_P12_PASSWORD"  # noqa: S105 - the name of a variable, not a password
# The simulated manager's account: written in the fleet file, not a real secret.
SIM_ADMIN_PASSWORD = "admin-pass"  # noqa: S105 - see above

ORIGINAL_LIST = "Default Management Server List"
"""The strict simulator's one management server list (HTTPS), which every group uses at the start."""
HTTP_LIST = "Default Management Server List (HTTP)"
"""Its HTTP copy, made before the rollout (:func:`copy_http_lists`) and assigned in step 2a."""

DEMO_CHURN: Mapping[str, int] = {"addPerDay": 24, "removePerDay": 12, "reimagePerDay": 6}
"""Per manager and simulated day: machines installed (with the site's current certificate), removed, re-imaged."""


def sim_hooks_dir() -> Path:
    """The simulator hooks: ``deploy/hooks/sim`` of a checkout, or the copy an installed wheel carries
    (``reconciler/_simhooks``: the same files, shipped as package data)."""
    checkout = Path(__file__).resolve().parents[2] / "deploy" / "hooks" / "sim"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parents[1] / "_simhooks"


@dataclass(frozen=True, slots=True)
class ManagerPlan:
    """One simulated manager: its clients (a share away for days at the start, a share on 14.2 agents)."""

    name: str
    site: str
    clients: int
    partners: tuple[str, ...] = ()
    offline_share: float = 0.02
    # back this long after the start: after the rollout, whose two 24 h soaks and the steps between them take about
    # 2.6 days of the managers' clock at the demo's speed (more on a slow machine, whose ticks take longer: 4.5 days
    # were seen on a busy 2-core machine; and for the two-server site, whose servers swap one after the other)
    offline_for: tuple[str, str] = ("8d", "15d")
    legacy_share: float = 0.02
    # (path, whether it inherits its policy from My Company); the clients are spread evenly over them
    groups: tuple[tuple[str, bool], ...] = (("My Company\\Laptops", False), ("My Company\\Servers", True))
    churn: Mapping[str, int] | None = field(default_factory=lambda: dict(DEMO_CHURN))
    # domains beside Default: (name, clients, group paths under My Company); each domain's groups are its own
    domains: tuple[tuple[str, int, tuple[str, ...]], ...] = ()


TRY_MANAGERS = (
    ManagerPlan("sepm-east", "Site East", 400, partners=("Site West",)),
    ManagerPlan("sepm-west", "Site West", 400, partners=("Site East",)),
    ManagerPlan(
        "sepm-dmz", "Site DMZ", 200, offline_share=0.01, groups=(("My Company\\DMZ Servers", False),)
    ),
)
"""The fleet of ``simulate --write-specs``: the demo's three managers with fewer clients."""

DEMO_MANAGERS = (
    ManagerPlan("sepm-east", "Site East", 1500, partners=("Site West",)),
    # a second management server of Site East (one database, failover): one site rollout with sepm-east
    ManagerPlan("sepm-east-2", "Site East", 600, partners=("Site West",)),
    ManagerPlan("sepm-west", "Site West", 1500, partners=("Site East",)),
    ManagerPlan(
        "sepm-dmz",
        "Site DMZ",
        800,
        offline_share=0.01,
        groups=(("My Company\\DMZ Servers", False),),
        domains=(("Partners", 300, ("My Company\\Partner Kiosks",)),),
    ),
)


@dataclass(frozen=True, slots=True)
class Leaf:
    cert_file: Path
    key_file: Path
    p12_file: Path
    fingerprint: str
    subject: str


class _Pki:
    def __init__(self, directory: Path, now: datetime) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.now = now
        self._key, self._cert = make_ca(now, 3650)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, common_name: str, p12_password: str) -> Leaf:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sans = [
            x509.DNSName(common_name),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo"),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - timedelta(hours=1))
            .not_valid_after(self.now + timedelta(days=397))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_file, key_file, p12_file = (self.directory / f"{stem}{ext}" for ext in (".crt", ".key", ".p12"))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_private(
            key_file,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        _write_private(
            p12_file,
            pkcs12.serialize_key_and_certificates(
                stem.encode(), key, cert, None, serialization.BestAvailableEncryption(p12_password.encode())
            ),
        )
        fingerprint = "sha256:" + cert.fingerprint(hashes.SHA256()).hex()
        return Leaf(cert_file, key_file, p12_file, fingerprint, cert.subject.rfc4514_string())


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


@dataclass(frozen=True, slots=True)
class Lab:
    """Everything the demo generated. ``p12_password`` is a secret: it only goes into the environment."""

    root: Path
    plans: tuple[ManagerPlan, ...]
    ca_file: Path
    current: Mapping[str, Leaf]  # what each manager presents at the start
    new: Mapping[str, Leaf]  # what the specs declare
    fleet_file: Path
    ports_file: Path
    p12_password: str = field(repr=False)
    start: datetime = field(default_factory=lambda: datetime.now(UTC))

    def environment(self) -> dict[str, str]:
        """The variables the specs and the hooks read (the secrets among them only ever live here)."""
        return {
            PASSWORD_ENV: SIM_ADMIN_PASSWORD,
            P12_PASSWORD_ENV: self.p12_password,
            "SEPM_SIM_PORTS_FILE": str(self.ports_file),
        }


def _fleet(
    lab_plans: Sequence[ManagerPlan],
    current: Mapping[str, Leaf],
    *,
    speed: float,
    seed: int,
    start: datetime,
    heartbeat: str,
    replication_interval: str,
) -> dict[str, Any]:
    managers = []
    sites: set[str] = set()
    for plan in lab_plans:
        owner = plan.site not in sites  # the first manager of a site holds its groups and its replication
        sites.add(plan.site)
        groups = [{"name": "My Company", "inherits": False}]
        groups += [{"name": path, "inherits": inherits} for path, inherits in plan.groups]
        share = {path: 1.0 / len(plan.groups) for path, _ in plan.groups}
        entry: dict[str, Any] = {
            "name": plan.name,
            "site": plan.site,
            "host": "127.0.0.1",
            "ports": {"clients": 0, "console": 0, "api": 0},
            "admin": {"username": "admin", "password": SIM_ADMIN_PASSWORD, "domain": ""},
            "certificate": {
                "certFile": str(current[plan.name].cert_file),
                "keyFile": str(current[plan.name].key_file),
            },
            **({"groups": groups} if owner else {}),
            "clients": {
                "count": plan.clients,
                "heartbeat": heartbeat,
                "offline": {
                    "share": plan.offline_share,
                    "forMin": plan.offline_for[0],
                    "forMax": plan.offline_for[1],
                },
                "agentVersions": {
                    "14.3.9816.7000": 1.0 - plan.legacy_share,
                    "14.2.5587.2100": plan.legacy_share,
                }
                if plan.legacy_share
                else {"14.3.9816.7000": 1.0},
                "groups": share,
                "namePrefix": plan.name.split("-")[-1].upper() + "-PC",
                **({"churn": dict(plan.churn)} if plan.churn else {}),
            },
            "restart": {"downSeconds": 0.3},
        }
        if plan.partners and owner:
            entry["replication"] = {"partners": list(plan.partners), "interval": replication_interval}
        if plan.domains:
            entry["domains"] = [_domain(plan, d, heartbeat) for d in plan.domains]
        managers.append(entry)
    return {
        "clock": {"start": start.isoformat(), "speed": speed},
        "seed": seed,
        "behaviours": "strict",  # every behaviour: the simulator's default, said here for the reader
        "managers": managers,
    }


def _domain(plan: ManagerPlan, domain: tuple[str, int, tuple[str, ...]], heartbeat: str) -> dict[str, Any]:
    """A domain beside Default on one manager: its own group tree and clients (online, current agents)."""
    name, count, paths = domain
    return {
        "name": name,
        "groups": [{"name": "My Company", "inherits": False}]
        + [{"name": path, "inherits": False} for path in paths],
        "clients": {
            "count": count,
            "heartbeat": heartbeat,
            "groups": {path: 1.0 / len(paths) for path in paths},
            "namePrefix": f"{plan.name.split('-')[-1].upper()}-{name.upper()}-PC",
            **({"churn": dict(plan.churn)} if plan.churn else {}),
        },
    }


def build_lab(
    root: Path,
    plans: Sequence[ManagerPlan] = DEMO_MANAGERS,
    *,
    speed: float = 7200,
    seed: int = 7,
    heartbeat: str = "5m",
    replication_interval: str = "1h",
) -> Lab:
    """Generate the PKI and the fleet file under ``root`` (nothing is started)."""
    now = datetime.now(UTC).replace(microsecond=0)
    p12_password = secrets.token_urlsafe(18)
    pki = _Pki(root / "pki", now)
    current = {p.name: pki.issue(f"{p.name}-current", f"{p.name}.demo.example", p12_password) for p in plans}
    new = {p.name: pki.issue(f"{p.name}-new", f"{p.name}.demo.example", p12_password) for p in plans}
    fleet = _fleet(
        plans,
        current,
        speed=speed,
        seed=seed,
        start=now,
        heartbeat=heartbeat,
        replication_interval=replication_interval,
    )
    fleet_file = root / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet, sort_keys=False), encoding="utf-8")
    return Lab(
        root, tuple(plans), pki.ca_file, current, new, fleet_file, root / "ports.json", p12_password, now
    )


def write_specs(
    lab: Lab,
    ports_info: Mapping[str, Any],
    *,
    directory: Path | None = None,
    policy: Mapping[str, Any] | None = None,
    hook_prefix: Sequence[str] = (),
    hook_timeout: str = "2m",
    only: Sequence[str] | None = None,
    standalone: bool = False,
) -> Path:
    """Write one spec per manager (and a Defaults document) declaring its *new* certificate; returns the directory.

    ``ports_info`` is the simulator's ports file content. ``policy`` overrides ``rollout.clients`` (the demo keeps
    the vendor's 24 h minimum soak). ``hook_prefix`` goes before each hook's argv (a wrapper that counts runs, in
    tests).

    ``standalone`` (``simulate --write-specs``): specs that work in any shell, with nothing to export — the
    secrets in files beside them (``{file: …}``, mode 0600), the simulator hooks copied into ``specs/hooks/`` and
    named relative to the specs, with the ports file in their ``environment``; the demo passes them through its
    own environment instead.
    """
    specs = directory or lab.root / "specs"
    (specs / "certs").mkdir(parents=True, exist_ok=True)
    api_password: dict[str, str] = {"env": PASSWORD_ENV}
    p12_password: dict[str, str] = {"env": P12_PASSWORD_ENV}
    hooks = sim_hooks_dir()
    if standalone:
        secrets_dir = specs.parent / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        _write_private(secrets_dir / "api-password", SIM_ADMIN_PASSWORD.encode())
        _write_private(secrets_dir / "keystore-password", lab.p12_password.encode())
        api_password = {"file": "../secrets/api-password"}
        p12_password = {"file": "../secrets/keystore-password"}
        copied = specs / "hooks"
        copied.mkdir(exist_ok=True)
        for script in sorted(hooks.glob("*.py")):
            (copied / script.name).write_bytes(script.read_bytes())
        hooks = copied
    clients = {
        "groups": [],
        "minAckRatio": 1.0,
        "excludeOfflineFor": "2d",
        "minSoak": "24h",
        "maxSoak": "7d",
        # step 4b: the clients check in (every 5 minutes) and receive the new certificate; no 24 h needed
        "afterSwap": {"minSoak": "2h"},
    }
    clients.update(policy or {})
    defaults = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "Defaults",
        "metadata": {"name": "demo-defaults"},
        "spec": {
            "server": {
                "caBundle": _relative(lab.ca_file, specs) if standalone else str(lab.ca_file),
                "timeout": "10s",
                "credentials": {"username": "admin", "password": api_password, "domain": ""},
            },
            "rollout": {
                "mode": "enforce",
                "clients": clients,
                "approvals": [],
                "window": None,
                "managementServerList": {"http": HTTP_LIST, "original": ORIGINAL_LIST},
            },
        },
    }
    by = "simulate --write-specs" if standalone else "demo"
    (specs / "defaults.yaml").write_text(_yaml(defaults, by), encoding="utf-8")

    def hook(script: str) -> dict[str, Any]:
        path = f"hooks/{script}" if standalone else str(hooks / script)
        argv = [*(hook_prefix or (sys.executable,)), path]
        action: dict[str, Any] = {"command": argv, "timeout": hook_timeout, "maxAttempts": 3}
        if standalone:
            action["environment"] = {"SEPM_SIM_PORTS_FILE": str(lab.ports_file)}
        return action

    for plan in lab.plans:
        if only is not None and plan.name not in only:
            continue
        info = ports_info["managers"][plan.name]
        ports = info["ports"]
        leaf = lab.new[plan.name]
        public = specs / "certs" / f"{plan.name}.crt"
        public.write_bytes(leaf.cert_file.read_bytes())
        actions: dict[str, Any] = {
            "switchToHttpList": hook("assign-list.py"),
            "updateCertificate": hook("update-certificate.py"),
            "restoreOriginalList": hook("assign-list.py"),
        }
        if plan.partners:
            actions["breakReplication"] = hook("break-replication.py")
            actions["restoreReplication"] = hook("restore-replication.py")
        document = {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": plan.name, "labels": {"demo": "true"}},
            "spec": {
                "server": {
                    "apiUrl": info["api_url"],
                    "ports": {"clients": ports["clients"], "console": ports["console"], "api": ports["api"]},
                    "site": plan.site,
                },
                "certificate": {
                    "file": f"certs/{plan.name}.crt",
                    "expiryWarning": "30d",
                    "keystore": {
                        "file": _relative(leaf.p12_file, specs) if standalone else str(leaf.p12_file),
                        "password": p12_password,
                    },
                },
                "replication": {"partners": list(plan.partners)},
                "rollout": {"actions": actions},
            },
        }
        (specs / f"{plan.name}.yaml").write_text(_yaml(document, by), encoding="utf-8")
    return specs


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` (both under one directory), in POSIX form."""
    return Path(os.path.relpath(path, start)).as_posix()


def _yaml(document: Mapping[str, Any], by: str = "demo") -> str:
    return f"# generated by sepm-reconciler {by}\n" + yaml.safe_dump(dict(document), sort_keys=False)


def copy_http_lists(lab: Lab, ports_info: Mapping[str, Any]) -> list[str]:
    """What an operator does once before the rollout (KB 187099): on each site, copy the clients' management server
    list as :data:`HTTP_LIST` and set the copy to HTTP — the simulator's console operation ``POST /_sim/lists``.
    Returns the sites done (a copy that exists already is fine)."""
    done: list[str] = []
    for info in ports_info["managers"].values():
        site = str(info.get("site", ""))
        if site in done:
            continue
        base = str(info["api_url"]).split("/sepm/api/v1")[0]
        response = httpx.post(
            f"{base}/_sim/lists",
            json={"name": HTTP_LIST, "protocol": "http", "copyOf": ORIGINAL_LIST},
            headers={"Authorization": f"Bearer {info['admin_token']}"},
            verify=ssl.create_default_context(cafile=str(lab.ca_file)),
            timeout=30,
        )
        if response.status_code not in (200, 409):
            response.raise_for_status()
        done.append(site)
    return done
