"""Live observation without acting: everything a decision (or a report) needs about each managed server.

The entry point other layers call (the tick, ``plan``, ``report``)::

    gathered = await gather(spec_set, store, clock=clock)            # every server of the specs, concurrently
    gathered = await gather(spec_set, None, names=["sepm-east"], clock=clock)   # no store: records are None
    for name, g in gathered.items():
        g.server            # LoadedServer
        g.desired           # "sha256:…", or None with g.desired_error (a CertificateError) saying why
        g.record            # RolloutRecord from the store, or None (never reconciled, or no store given)
        g.partners          # {partner site: RolloutRecord} of the declared partners that are managed too
        g.site              # SiteView: the other managed servers of its site (their records), the earlier waves
        g.others            # {server: RolloutRecord} of every other managed server (fleet-wide gates)
        g.observation       # ServerObservation, or None with g.observation_error (an Error) saying why
        g.error             # the first of desired_error / observation_error, as one sentence, or None
        g.problem           # g.error, or why the manager could not be reached or its REST API used, or None
        g.keystore_error    # why the keystore step 4 installs cannot be used, located in the spec, or None
        g.hook_error        # why a hook of the spec cannot run (program or script not found, not executable)
        g.trust             # whether the desired certificate will be trusted on the API port (NewCertificateTrust)

``gather`` never acts and never writes the store: it reads the records, opens one REST client per server (its
session logged out and closed before it returns), and observes. Per-server problems (an unreadable certificate file, an unresolvable password, a
manager that cannot be reached) are carried in that server's :class:`Gathered`; they never stop the others. Only a
store that cannot be read (:class:`~reconciler.errors.StateError`) or a name that is not in the specs
(:class:`~reconciler.errors.SpecError`) raises.

A manager that cannot be reached still yields an observation (``api_reachable`` False, ports refused or timed
out, ``errors`` saying why): that *is* what was observed. ``observation`` is None only when observing could not be
attempted or broke off (secrets, CA bundle, an unexpected adapter error).

The observation counts client acknowledgements as the procedure table says for the record's stage
(:meth:`~reconciler.core.procedure.Procedure.counting`: the change time on the manager's clock, a policy applied or a
check-in since, and by which rules). ``ledgers`` keeps one
:class:`~reconciler.sepm.ClientLedger` per server between calls (pass the same dict each time for incremental client
scans; omitted: a full scan each time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field

from reconciler.core.clock import Clock
from reconciler.core.decide import partner_records
from reconciler.core.observation import PortOutcome, ServerObservation
from reconciler.core.orphans import SwapWindow
from reconciler.core.procedure import STANDARD, Phase
from reconciler.core.record import RolloutRecord
from reconciler.core.site import SiteView, site_view
from reconciler.core.trust import NewCertificateTrust
from reconciler.errors import CertificateError, Error, SpecError, UnreachableError
from reconciler.hooks import hook_problems
from reconciler.sepm import ClientLedger, SepmClient, observe, open_client
from reconciler.specs import LoadedServer, SpecSet, check_secrets, desired_fingerprint, new_certificate_trust
from reconciler.store import Store

__all__ = [
    "ClientFactory",
    "Gathered",
    "default_client",
    "gather",
    "gather_one",
    "keystore_problem",
    "noop_groups",
    "select_servers",
]

ClientFactory = Callable[[LoadedServer], SepmClient]
"""Builds the REST client of one server (tests inject one with another transport or retry policy)."""


def default_client(server: LoadedServer) -> SepmClient:
    """The client the spec describes: secrets resolved now, TLS verified against ``caBundle`` or the system."""
    return open_client(server)


@dataclass(frozen=True, slots=True)
class Gathered:
    """What is known about one server right now. See the module docstring for each field."""

    server: LoadedServer
    desired: str | None
    desired_error: CertificateError | None
    record: RolloutRecord | None
    partners: Mapping[str, RolloutRecord] = field(default_factory=dict)
    observation: ServerObservation | None = None
    others: Mapping[str, RolloutRecord] = field(default_factory=dict)
    observation_error: Error | None = None
    keystore_error: str | None = None
    hook_error: str | None = None
    trust: NewCertificateTrust | None = None
    site: SiteView | None = None

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def error(self) -> str | None:
        """Why this server cannot be decided on or reported fully (one sentence), or None."""
        if self.desired_error is not None:
            return f"desired certificate: {self.desired_error}"
        if self.observation_error is not None:
            return f"observation: {self.observation_error}"
        return None

    @property
    def unreachable(self) -> bool:
        """Nothing of the manager could be seen: no observation, or neither the API nor any port answered."""
        obs = self.observation
        if obs is None:
            return True
        return not obs.api_reachable and not any(
            p.outcome is PortOutcome.PRESENTED for p in obs.ports.values()
        )

    @property
    def problem(self) -> str | None:
        """Why this server could not be handled fully this time — :attr:`error`, a manager that cannot be reached,
        or a REST API that cannot be used (no answer, credentials refused, certificate not trusted) — or None.

        ``reconcile`` and ``plan`` report it as an error (exit 1); the tick backs off its next look."""
        if self.error is not None:
            return self.error
        obs = self.observation
        if obs is None:  # pragma: no cover - an observation that could not be made always carries its error
            return f"{self.name}: nothing could be observed"
        if self.unreachable:
            ports = ", ".join(
                f"{p.name} {p.port} {p.outcome.value.replace('_', ' ')}" for p in obs.ports.values()
            )
            api = f"; API: {obs.api_error}" if obs.api_error else ""
            return f"{self.name} cannot be reached: ports {ports or 'not observed'}{api}"
        if obs.api_error is not None:
            return f"the SEPM REST API of {self.name} cannot be used: {obs.api_error}"
        return None

    def problem_for(self, record: RolloutRecord) -> str | None:
        """:attr:`problem`, or — while ``record`` (the decision's) still needs it, before the certificate changes —
        why the keystore step 4 installs cannot be used."""
        if self.problem is not None:
            return self.problem
        needed = record.rollout_id is not None and record.facts.certificate_changed_at is None
        if self.keystore_error is not None and needed and record.working_phase is not Phase.ROLLING_BACK:
            return f"keystore: {self.keystore_error}"
        return None


def noop_groups(record: RolloutRecord | None) -> frozenset[str]:
    """The managed groups whose verification flag already read as wanted when step 2b (off) or step 5 (on) began —
    nothing was sent to them; also those recorded as such when 2b passed again after a list went back — while
    clients are counted against that step's change: their clients acknowledge by applying their group's current
    policy."""
    if record is None or record.acknowledgement_since is None:
        return frozenset()
    if record.acknowledgement_since == record.facts.verification_on_at:
        return frozenset(record.facts.verification_on_noop)  # already verifying when step 5 began
    if record.acknowledgement_since != record.facts.verification_off_at:
        return frozenset()
    facts = record.facts
    before = {gid for gid, was in facts.verification_before.items() if was is False}
    return frozenset(before | set(facts.verification_unchanged) | set(facts.verification_off_noop))


def select_servers(spec_set: SpecSet, names: Iterable[str] | None) -> list[LoadedServer]:
    """The servers named (all of them, by name, when ``names`` is None); a name not in the specs is a SpecError."""
    if names is None:
        return [spec_set.servers[n] for n in sorted(spec_set.servers)]
    chosen: list[LoadedServer] = []
    for name in dict.fromkeys(names):
        server = spec_set.servers.get(name)
        if server is None:
            known = ", ".join(sorted(spec_set.servers)) or "none"
            raise SpecError(
                f"no server named {name!r} in the specs at {spec_set.path} (servers: {known}); check --server "
                "against metadata.name"
            )
        chosen.append(server)
    return chosen


def _desired(server: LoadedServer) -> tuple[str | None, CertificateError | None]:
    try:
        return desired_fingerprint(server), None
    except CertificateError as exc:
        return None, exc


def keystore_problem(server: LoadedServer) -> str | None:
    """Why the keystore that step 4 installs cannot be used — it cannot be read or opened with its password, or
    does not hold the desired certificate — located in the spec (``validate --check-secrets`` reports the same);
    None when it can, when the spec declares none, or when it is a JKS (SEPM's own format: a hook may install one,
    this tool cannot look inside it)."""
    if server.spec.spec.certificate.keystore is None:
        return None
    issues = [
        issue
        for issue in check_secrets(server)
        if issue.is_error
        and (issue.field or "").startswith("spec.certificate.keystore")
        and issue.code != "keystore-jks"
    ]
    return "; ".join(str(issue) for issue in issues) or None


async def gather_one(
    server: LoadedServer,
    record: RolloutRecord | None,
    partners: Mapping[str, RolloutRecord],
    *,
    client: SepmClient | None,
    client_error: Error | None = None,
    ledger: ClientLedger | None,
    clock: Clock,
    observe_timeout: float | None = None,
    site: SiteView | None = None,
    others: Mapping[str, RolloutRecord] | None = None,
) -> Gathered:
    """Observe one server with an open ``client`` (or report ``client_error`` when none could be built).

    The building block of :func:`gather`; the engine's tick calls it with the client it then acts through.
    ``observe_timeout`` (seconds) bounds the whole observation: past it, the observation is abandoned and
    ``observation_error`` is an :class:`~reconciler.errors.UnreachableError`.
    """
    desired, desired_error = _desired(server)
    # once a port presented another certificate the keystore is past its use: not opened any more
    swapping = record is not None and record.facts.certificate_changed_at is not None
    observation: ServerObservation | None = None
    observation_error = client_error
    if client is not None:
        work = observe(
            server.spec,
            client,
            ledger=ledger,
            counting=STANDARD.counting(record, server.spec),
            swap=_swap_window(server, record),
            now=clock.now(),
            noop_groups=noop_groups(record),
        )
        try:
            observation = await asyncio.wait_for(work, timeout=observe_timeout)
        except TimeoutError as exc:
            observation_error = UnreachableError(
                f"{server.name}: the observation did not complete within {observe_timeout:g} s (abandoned)"
            )
            observation_error.__cause__ = exc
        except Error as exc:
            observation_error = exc
    return Gathered(
        server=server,
        desired=desired,
        desired_error=desired_error,
        record=record,
        partners=dict(partners),
        others={k: v for k, v in (others or {}).items() if k != server.name},
        observation=observation,
        observation_error=observation_error,
        keystore_error=None if swapping else await asyncio.to_thread(keystore_problem, server),
        hook_error=await asyncio.to_thread(hook_problems, server),
        trust=None if swapping else await asyncio.to_thread(new_certificate_trust, server, clock.now()),
        site=site,
    )


def _swap_window(server: LoadedServer, record: RolloutRecord | None) -> SwapWindow | None:
    """After a swap, the window its clients are judged against (they stay eligible; the silent ones are named)."""
    if record is None or record.rollout_id is None:
        return None
    rollout = server.spec.spec.rollout
    policy = rollout.clients
    return record.facts.swap_window(policy.heartbeat, policy.exclude_offline_for, rollout.canary.heartbeats)


async def gather(
    spec_set: SpecSet,
    store: Store | None,
    *,
    names: Iterable[str] | None = None,
    clock: Clock,
    client_factory: ClientFactory | None = None,
    ledgers: MutableMapping[str, ClientLedger] | None = None,
    concurrency: int = 8,
    observe_timeout: float | None = None,
) -> dict[str, Gathered]:
    """Observe the servers of ``spec_set`` (those in ``names``, default all), concurrently, never acting.

    ``store`` None: no records (``record`` None everywhere). ``client_factory`` builds each server's REST client
    (default :func:`default_client`). ``ledgers`` keeps client ledgers between calls, by server name. At most
    ``concurrency`` servers are observed at once; ``observe_timeout`` (seconds) bounds each observation.
    Returns ``{name: Gathered}`` in name order.
    """
    servers = select_servers(spec_set, names)
    records: dict[str, RolloutRecord] = {}
    if store is not None:
        records = {r.server: r for r in await asyncio.to_thread(store.all)}
    specs = [s.spec for s in spec_set.servers.values()]
    factory = client_factory or default_client
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(server: LoadedServer) -> Gathered:
        ledger = None
        if ledgers is not None:
            ledger = ledgers.setdefault(
                server.name, ClientLedger(page_size=server.spec.spec.server.api.page_size)
            )
        partners = partner_records(server.spec, specs, records)
        async with limit:
            client: SepmClient | None = None
            client_error: Error | None = None
            try:
                client = factory(server)
            except Error as exc:
                client_error = exc
            try:
                return await gather_one(
                    server,
                    records.get(server.name),
                    partners,
                    client=client,
                    client_error=client_error,
                    ledger=ledger,
                    clock=clock,
                    observe_timeout=observe_timeout,
                    site=site_view(server.spec, specs, records),
                    others={n: r for n, r in records.items() if n in spec_set.servers},
                )
            finally:
                if client is not None:
                    await client.close()  # a one-shot look: end the session

    results = await asyncio.gather(*(one(s) for s in servers))
    return {g.name: g for g in results}
