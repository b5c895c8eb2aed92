"""The vectorised client fleet behaves exactly like clients checking in one by one.

The reference below walks every check-in of every client in time order, applying the strict rule (HTTPS lists fail
TLS on an untrusted certificate; a verifying policy fails on one; the certificate is learnt only with a policy that
does not verify, or always with ``certificateWithPolicy``) to one client at a time; the fleet under test computes
the same with one numpy pass per interval. Hypothesis drives both through random sequences of clock advances,
certificate switches, service outages, policy changes (flag and list protocol) and laptops leaving and coming back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sim.clients import FOREVER, ClientFleet, Environment
from reconciler.sim.fleet import ClientsConfig

START = 1_000_000_000
HEARTBEAT_S = 1.0  # 1 000 ms


@dataclass
class RefClient:
    phase: int
    group: int
    applied: int
    trusted: int
    off_start: int
    off_end: int
    orphaned: bool = False
    reason: int = 0
    stale: bool = False
    last_ok: int = 0


@dataclass
class Reference:
    clients: list[RefClient]
    synced_to: int = START
    heartbeat: int = 1000
    group_policy: list[int] = field(default_factory=list)
    policy_secure: list[bool] = field(default_factory=list)
    policy_https: list[bool] = field(default_factory=list)
    served: int = 0
    learn_with_policy: bool = False

    def checkin(self, c: RefClient, t: int) -> None:
        if c.orphaned or self.served < 0:
            return
        trusts = c.trusted == self.served
        if not trusts and (self.policy_https[c.applied] or self.policy_secure[c.applied]):
            c.orphaned = True
            c.reason = 3 if c.stale else (2 if self.policy_https[c.applied] else 1)
            return
        c.applied = self.group_policy[c.group]
        if self.learn_with_policy or not self.policy_secure[c.applied]:
            c.trusted, c.stale = self.served, False
        else:
            c.stale = not trusts
        c.last_ok = t

    def sync(self, now: int) -> None:
        t0 = self.synced_to
        for c in self.clients:
            times = set()  # a client checks in at most once per millisecond
            k = -(-(t0 + 1 - c.phase) // self.heartbeat)
            while (t := c.phase + k * self.heartbeat) <= now:
                if not (c.off_start <= t < c.off_end):
                    times.add(t)
                k += 1
            if c.off_start < c.off_end and t0 < c.off_end <= now:
                times.add(c.off_end)
            for t in sorted(times):
                self.checkin(c, t)
        self.synced_to = max(self.synced_to, now)


def build(
    n: int, seed: int, offline_share: float, *, https: bool = False, learn: bool = True
) -> tuple[ClientFleet, Reference]:
    cfg = ClientsConfig(
        count=n, heartbeat=HEARTBEAT_S, offline_share=offline_share, offline_for_min=2.0, offline_for_max=9.0
    )
    policy = np.array([0, 1], dtype=np.int32)
    fleet = ClientFleet(
        cfg,
        seed=(seed,),
        start_ms=START,
        group_weights=[(0, 0.5), (1, 0.5)],
        initial_policy=policy,
        initial_certs=0,
    )
    ref = Reference(
        clients=[
            RefClient(
                phase=int(fleet.phase[i]),
                group=int(fleet.group[i]),
                applied=int(fleet.applied[i]),
                trusted=int(fleet.trusted[i, 0]),
                off_start=int(fleet.off_start[i]),
                off_end=int(fleet.off_end[i]),
                last_ok=int(fleet.last_ok[i]),
            )
            for i in range(n)
        ],
        group_policy=[0, 1],
        policy_secure=[True, True],
        policy_https=[https, https],
        learn_with_policy=learn,
    )
    return fleet, ref


def env_of(ref: Reference) -> Environment:
    return Environment(
        served=ref.served,
        slot=0,
        site_certs=np.array([ref.served], dtype=np.int16),
        group_policy=np.array(ref.group_policy, dtype=np.int32),
        policy_secure=np.array(ref.policy_secure, dtype=np.bool_),
        policy_https=np.array(ref.policy_https, dtype=np.bool_),
        learn_with_policy=ref.learn_with_policy,
    )


def assert_same(fleet: ClientFleet, ref: Reference) -> None:
    assert fleet.orphaned.tolist() == [c.orphaned for c in ref.clients]
    assert fleet.reason.tolist() == [c.reason for c in ref.clients]
    assert fleet.applied.tolist() == [c.applied for c in ref.clients]
    assert fleet.trusted[:, 0].tolist() == [c.trusted for c in ref.clients]
    assert fleet.last_ok.tolist() == [c.last_ok for c in ref.clients]


operation = st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 6000)),
    st.tuples(st.just("serve"), st.integers(-1, 2)),  # -1: the clients port is down
    st.tuples(st.just("policy"), st.integers(0, 1), st.booleans(), st.booleans()),
    st.tuples(st.just("offline"), st.integers(0, 2**12 - 1), st.one_of(st.none(), st.integers(1, 5000))),
    st.tuples(st.just("online"), st.integers(0, 2**12 - 1)),
    st.tuples(st.just("rehome")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    offline_share=st.sampled_from([0.0, 0.3]),
    https=st.booleans(),
    learn=st.booleans(),
    ops=st.lists(operation, max_size=14),
)
def test_vectorised_checkins_match_one_by_one_checkins(
    seed: int, offline_share: float, https: bool, learn: bool, ops: list[tuple[Any, ...]]
) -> None:
    n = 12
    fleet, ref = build(n, seed, offline_share, https=https, learn=learn)
    now = START
    for op in ops:
        kind = op[0]
        if kind == "advance":
            now += op[1]
            fleet.sync(now, env_of(ref))
            ref.sync(now)
        elif kind == "serve":
            ref.served = op[1]
        elif kind == "policy":
            ref.policy_secure.append(op[2])
            ref.policy_https.append(op[3])
            ref.group_policy[op[1]] = len(ref.policy_secure) - 1
        elif kind == "offline":
            mask = np.array([(op[1] >> i) & 1 == 1 for i in range(n)])
            until = None if op[2] is None else now + op[2]
            fleet.set_offline(mask, now, until)
            for i, c in enumerate(ref.clients):
                if mask[i] and not (c.off_start <= now < c.off_end):
                    c.off_start, c.off_end = now, FOREVER if until is None else max(until, now + 1)
        elif kind == "online":
            mask = np.array([(op[1] >> i) & 1 == 1 for i in range(n)])
            fleet.set_online(mask, now, env_of(ref))
            for i, c in enumerate(ref.clients):
                if mask[i] and c.off_start <= now < c.off_end:
                    c.off_end = now
                    ref.checkin(c, now)
        elif kind == "rehome":
            fleet.rehome(now, env_of(ref))
            if ref.served >= 0:
                for c in ref.clients:
                    if c.orphaned and not (c.off_start <= now < c.off_end):
                        c.orphaned, c.reason, c.stale = False, 0, False
                        c.trusted = ref.served
                        ref.checkin(c, now)
        assert_same(fleet, ref)


def test_a_verifying_client_shown_an_untrusted_certificate_is_orphaned_at_its_next_checkin() -> None:
    fleet, ref = build(50, seed=1, offline_share=0.0)
    ref.served = 1  # a new certificate, verification on everywhere
    fleet.sync(START + 400, env_of(ref))
    first_beat = START + (fleet.phase - START - 1) % 1000 + 1
    assert fleet.orphaned.tolist() == (first_beat <= START + 400).tolist()
    assert 0 < fleet.orphaned.sum() < 50
    fleet.sync(START + 1000, env_of(ref))
    assert fleet.orphaned.all(), "after one heartbeat every online client has checked in and failed"


def test_clients_keep_their_state_while_the_clients_port_is_down() -> None:
    fleet, ref = build(50, seed=2, offline_share=0.0)
    ref.served = -1
    ref.group_policy[1] = 0
    before = fleet.last_ok.copy()
    fleet.sync(START + 10_000, env_of(ref))
    assert not fleet.orphaned.any()
    assert (fleet.last_ok == before).all()


@pytest.mark.parametrize("verifies", [True, False], ids=["verifying", "not-verifying"])
def test_a_laptop_offline_throughout_meets_the_new_certificate_when_it_comes_back(verifies: bool) -> None:
    fleet, ref = build(40, seed=5, offline_share=0.5)
    away = fleet.offline_at(START)
    assert away.any()
    ref.policy_secure = [verifies, verifies]
    ref.served = 1
    fleet.sync(START + 1500, env_of(ref))  # every online client checked in; the laptops are still away
    assert not fleet.orphaned[away].any()
    fleet.sync(START + 9_500, env_of(ref))  # every laptop is back (forMax 9 s)
    assert bool(fleet.orphaned[away].all()) is verifies
    assert not fleet.orphaned[~away].any() or verifies


def test_a_hundred_thousand_clients_advance_a_week_in_well_under_a_second() -> None:
    import time

    cfg = ClientsConfig(
        count=100_000, heartbeat=300, offline_share=0.1, offline_for_min=86400, offline_for_max=4 * 86400
    )
    fleet = ClientFleet(
        cfg,
        seed=(9,),
        start_ms=START,
        group_weights=[(0, 1.0)],
        initial_policy=np.array([0], dtype=np.int32),
        initial_certs=0,
    )
    env = Environment(
        served=1,
        slot=0,
        site_certs=np.array([1], dtype=np.int16),
        group_policy=np.array([0], dtype=np.int32),
        policy_secure=np.array([False]),
        policy_https=np.array([False]),
    )
    started = time.perf_counter()
    for hour in range(1, 7 * 24 + 1):
        fleet.sync(START + hour * 3_600_000, env)
    assert time.perf_counter() - started < 3.0  # 168 vectorised passes; typically ~0.3 s on the 2-core box
    assert (
        fleet.trusted[:, 0] == 1
    ).all()  # everyone, laptops included, checked in and took the new certificate
