"""The client fleet of one manager, as numpy arrays: no Python step per client, ever.

What each client keeps (as a SEPM client does): the policy it applied (hence its serial and whether it verifies
the server certificate), the certificate it trusts, whether it is orphaned, and when it last checked in.

**Schedule.** Client *i* checks in at ``phase[i] + k·heartbeat`` (absolute virtual ms) while it is online, and once
more when it comes back from an offline window ``[off_start[i], off_end[i])``. Laptops offline at the start have
``off_start`` in the past (their last check-in) and ``off_end`` a random time in ``[forMin, forMax]`` after it.

**Check-in.** A client that verifies (its *applied* policy has ``secure_communications``) and is shown a certificate
it does not trust fails the handshake and is **orphaned** (until re-homed). Otherwise it applies its group's current
policy, trusts the certificate it was shown (SEPM pushes it in the communication settings) and records the time.
While the clients port is down, check-ins fail without consequence.

**Lazy evaluation.** The owner calls :meth:`ClientFleet.sync` before anything clients can see changes (served
certificate, policies, services), so between two syncs the environment is constant. A check-in is then idempotent
(a second one in the same interval changes nothing but the time), so one vectorised pass finds, per client, the
first and last check-in in ``(synced_to, now]`` and applies the outcome once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reconciler.sim.fleet import ClientsConfig

__all__ = ["ClientFleet", "Environment"]

NEVER = np.iinfo(np.int64).min // 4  # "no time": far in the past, but safe to add to
FOREVER = np.iinfo(np.int64).max // 4

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Environment:
    """What a client sees when it checks in: the clients-port certificate (``-1`` while down) and the policies."""

    served: int
    group_policy: npt.NDArray[np.int32]  # current policy version per group
    policy_secure: npt.NDArray[np.bool_]  # secure_communications per policy version


class ClientFleet:
    def __init__(
        self,
        cfg: ClientsConfig,
        *,
        seed: tuple[int, ...],
        start_ms: int,
        group_weights: list[tuple[int, float]],
        initial_policy: npt.NDArray[np.int32],
        initial_cert: int,
    ) -> None:
        rng = np.random.default_rng(list(seed))
        n = cfg.count
        self.count = n
        self.heartbeat_ms = int(cfg.heartbeat * 1000)
        groups, weights = zip(*group_weights, strict=True) if group_weights else ((0,), (1.0,))
        w = np.asarray(weights, dtype=np.float64)
        self.group = np.asarray(groups, dtype=np.int16)[rng.choice(len(groups), size=n, p=w / w.sum())]
        versions = np.asarray([share for _, share in cfg.agent_versions], dtype=np.float64)
        self.agent = rng.choice(len(versions), size=n, p=versions / versions.sum()).astype(np.int8)
        self.phase: I64 = rng.integers(0, self.heartbeat_ms, size=n, dtype=np.int64)
        self.uid = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
        self.hardware = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
        self.created: I64 = start_ms - rng.integers(30, 900, size=n, dtype=np.int64) * 86_400_000
        # availability: one offline window per client (empty when off_start == off_end)
        away = rng.random(n) < cfg.offline_share
        gone_for = (rng.random(n) * cfg.offline_for_min * 1000).astype(np.int64)
        back_after = (
            cfg.offline_for_min + rng.random(n) * (cfg.offline_for_max - cfg.offline_for_min)
        ) * 1000
        self.off_start: I64 = np.where(away, start_ms - gone_for, start_ms).astype(np.int64)
        self.off_end: I64 = np.where(away, start_ms + back_after.astype(np.int64), start_ms).astype(np.int64)
        last_beat = self._last_beat_at_or_before(np.full(n, start_ms, dtype=np.int64))
        self.last_ok: I64 = np.where(away, self.off_start - 1, last_beat)
        self.changed_at: I64 = self.last_ok.copy()
        self.applied = initial_policy[self.group].astype(np.int32)
        self.trusted = np.full(n, initial_cert, dtype=np.int16)
        self.orphaned = np.zeros(n, dtype=np.bool_)
        self.orphaned_at: I64 = np.full(n, NEVER, dtype=np.int64)
        self.synced_to = start_ms

    # --- schedule helpers ---------------------------------------------------------------------------------------
    def _last_beat_at_or_before(self, t: I64 | int) -> I64:
        h = self.heartbeat_ms
        beats: I64 = self.phase + np.floor_divide(t - self.phase, h) * h
        return beats

    def _first_beat_after(self, t: I64 | int) -> I64:
        return self._last_beat_at_or_before(t) + self.heartbeat_ms

    def offline_at(self, t: int) -> Mask:
        """Machines that are off (or away) at virtual time ``t``."""
        return (self.off_start <= t) & (t < self.off_end)

    def _in_window(self, t: I64) -> Mask:
        return (self.off_start <= t) & (t < self.off_end)

    # --- the one vectorised step --------------------------------------------------------------------------------
    def sync(self, now_ms: int, env: Environment) -> int:
        """Apply every check-in in ``(synced_to, now_ms]`` under ``env``; returns how many clients were orphaned."""
        t0, t1 = self.synced_to, now_ms
        if t1 <= t0:
            return 0
        self.synced_to = t1
        if env.served < 0 or self.count == 0:
            return 0  # the clients port is down: every check-in fails, nothing changes
        window = self.off_start < self.off_end
        # last check-in in (t0, t1]
        beat = self._last_beat_at_or_before(t1)
        ok_beat = (beat > t0) & ~self._in_window(beat)
        came_back = window & (self.off_end > t0) & (self.off_end <= t1)
        before_leaving = self._last_beat_at_or_before(self.off_start - 1)
        ok_before = window & (before_leaving > t0) & (before_leaving <= t1)
        last = np.where(ok_beat, beat, NEVER)
        last = np.maximum(last, np.where(came_back, self.off_end, NEVER))
        last = np.maximum(last, np.where(ok_before, before_leaving, NEVER))
        # first check-in in (t0, t1]
        first_beat = self._first_beat_after(t0)
        ok_first = (first_beat <= t1) & ~self._in_window(first_beat)
        first = np.minimum(
            np.where(ok_first, first_beat, FOREVER), np.where(came_back, self.off_end, FOREVER)
        )
        checked_in = last > NEVER
        return self._apply(checked_in, first, last, env)

    def _apply(self, mask: Mask, first: I64 | int, last: I64 | int, env: Environment) -> int:
        if env.served < 0:
            return 0  # the clients port is down: the check-in fails, nothing changes
        active = mask & ~self.orphaned
        verifies = env.policy_secure[self.applied]
        fails = active & verifies & (self.trusted != env.served)
        succeeds = active & ~fails
        self.orphaned |= fails
        self.orphaned_at = np.where(fails, first, self.orphaned_at)
        self.changed_at = np.where(fails, first, self.changed_at)
        self.applied = np.where(succeeds, env.group_policy[self.group], self.applied).astype(np.int32)
        self.trusted = np.where(succeeds, env.served, self.trusted).astype(np.int16)
        self.last_ok = np.where(succeeds, last, self.last_ok)
        self.changed_at = np.where(succeeds, last, self.changed_at)
        return int(fails.sum())

    # --- operations (call sync(now) first) ----------------------------------------------------------------------
    def set_offline(self, mask: Mask, now_ms: int, until_ms: int | None) -> int:
        """Take the machines in ``mask`` offline from now (until ``until_ms``, or indefinitely)."""
        target = mask & ~self.offline_at(now_ms)
        self.off_start = np.where(
            target, now_ms, self.off_start
        )  # check-ins at now_ms already happened (sync)
        self.off_end = np.where(
            target, FOREVER if until_ms is None else max(until_ms, now_ms + 1), self.off_end
        )
        self.changed_at = np.where(target, now_ms, self.changed_at)
        return int(target.sum())

    def set_online(self, mask: Mask, now_ms: int, env: Environment) -> int:
        """Bring the machines in ``mask`` back now; each checks in at once (as a returning laptop does)."""
        target = mask & self.offline_at(now_ms)
        self.off_end = np.where(target, now_ms, self.off_end)
        self._apply(target, now_ms, now_ms, env)
        return int(target.sum())

    def rehome(self, now_ms: int, env: Environment) -> tuple[int, int]:
        """Communication Update Package: online orphans trust the served certificate again and check in.

        Returns ``(rehomed, still_orphaned_offline)``; an orphan that is offline cannot receive the package.
        """
        reachable = self.orphaned & ~self.offline_at(now_ms)
        if env.served >= 0:
            self.orphaned &= ~reachable
            self.orphaned_at = np.where(reachable, NEVER, self.orphaned_at)
            self.trusted = np.where(reachable, env.served, self.trusted).astype(np.int16)
            self._apply(reachable, now_ms, now_ms, env)
            return int(reachable.sum()), int(self.orphaned.sum())
        return 0, int(self.orphaned.sum())

    # --- reading ------------------------------------------------------------------------------------------------
    def online(self, now_ms: int) -> Mask:
        """``onlineStatus`` 1: the machine is on and can talk to its manager (not away, not orphaned)."""
        return ~self.offline_at(now_ms) & ~self.orphaned
