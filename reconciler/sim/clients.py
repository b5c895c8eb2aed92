"""The clients of one population (one ``clients:`` block: one home server, one domain), as numpy arrays: no Python
step per client, ever.

What each client keeps (as a SEPM client does): the policy it applied (hence its serial, whether it verifies the
server certificate, and the management server list with its protocol), the certificate it trusts for each server
of its site (a client caches them in its list), whether it is orphaned and why, and when it last checked in.

**Schedule.** Client *i* checks in at ``phase[i] + k·heartbeat`` (absolute virtual ms) while it is online, and once
more when it comes back from an offline window ``[off_start[i], off_end[i])``. Laptops offline at the start have
``off_start`` in the past (their last check-in) and ``off_end`` a random time in ``[forMin, forMax]`` after it. A
deleted record (removed or re-imaged machine) never checks in again.

**Check-in** (the strict rule), against the certificate C that the server it reaches presents:

* its applied list is HTTPS and it does not trust C → **orphaned** (``tls``: the TLS handshake fails, whatever
  the verification flag);
* its applied policy verifies and it does not trust C → **orphaned** (``verification``; ``stale_certificate`` when
  it applied that policy at a check-in where it did not learn the certificate it was shown);
* otherwise it applies its group's current policy (flag and list) and records the time. It learns the site's
  certificates (every server's) only if the policy it *now* applies does not verify — or always, with
  ``certificateWithPolicy: true`` (lenient: the certificate arrives atomically with the policy).

**Lazy evaluation.** The owner calls :meth:`ClientFleet.sync` before anything clients can see changes (served
certificates, policies, lists, services), so between two syncs the environment is constant. Two check-ins under a
constant environment reach a fixed point (a third changes nothing but the time), so one vectorised pass applies,
per client, its first and second check-in in ``(synced_to, now]`` and stamps its last one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from reconciler.sim.fleet import ClientsConfig

__all__ = ["FOREVER", "NEVER", "REASONS", "ClientFleet", "Environment"]

NEVER = np.iinfo(np.int64).min // 4  # "no time": far in the past, but safe to add to
FOREVER = np.iinfo(np.int64).max // 4
REASONS = {1: "verification", 2: "tls", 3: "stale_certificate"}  # orphan reason codes

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

# every per-client column and its dtype; 2-D columns have their width given at construction
_COLUMNS: dict[str, Any] = {
    "group": np.int16, "agent": np.int8, "os": np.int8, "phase": np.int64, "uid": np.int64,
    "hardware": np.int64, "created": np.int64, "off_start": np.int64, "off_end": np.int64, "last_ok": np.int64,
    "changed_at": np.int64, "applied": np.int32, "trusted": np.int16, "orphaned": np.bool_,
    "orphaned_at": np.int64, "reason": np.int8, "stale": np.bool_, "deleted": np.bool_, "name_base": np.int32,
    "name_seq": np.int32, "last_server": np.int8,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Environment:
    """What the clients of a population see when they check in."""

    served: int  # the certificate the server they reach presents on its clients port (-1: none reachable)
    slot: int  # which server of the site that is (index into site_certs)
    site_certs: npt.NDArray[np.int16]  # what each server of the site presents when up: what a client learns
    group_policy: npt.NDArray[np.int32]  # current policy version per group
    policy_secure: npt.NDArray[np.bool_]  # secure_communications per policy version
    policy_https: npt.NDArray[np.bool_]  # the list's protocol is HTTPS, per policy version
    learn_with_policy: bool = False  # certificateWithPolicy


class ClientFleet:
    def __init__(
        self,
        cfg: ClientsConfig,
        *,
        seed: tuple[int, ...],
        start_ms: int,
        group_weights: list[tuple[int, float]],
        initial_policy: npt.NDArray[np.int32],
        initial_certs: npt.NDArray[np.int16] | int,
        home_slot: int = 0,
        absence_groups: Sequence[int | None] = (),
    ) -> None:
        rng = np.random.default_rng(list(seed))
        n = cfg.count
        self.count = n
        self.heartbeat_ms = int(cfg.heartbeat * 1000)
        groups, weights = zip(*group_weights, strict=True) if group_weights else ((0,), (1.0,))
        self.group_choices = np.asarray(groups, dtype=np.int16)
        w = np.asarray(weights, dtype=np.float64)
        self.group_p = w / w.sum()
        versions = np.asarray([share for _, share in cfg.agent_versions], dtype=np.float64)
        self.agent_p = versions / versions.sum()
        self.group = self.group_choices[rng.choice(len(groups), size=n, p=self.group_p)]
        self.agent = rng.choice(len(versions), size=n, p=self.agent_p).astype(np.int8)
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
        certs = np.atleast_1d(np.asarray(initial_certs, dtype=np.int16))
        self.trusted = np.tile(certs, (n, 1)).astype(np.int16)  # (n, servers of the site)
        self.orphaned = np.zeros(n, dtype=np.bool_)
        self.orphaned_at: I64 = np.full(n, NEVER, dtype=np.int64)
        self.reason = np.zeros(n, dtype=np.int8)
        self.stale = np.zeros(n, dtype=np.bool_)
        self.deleted = np.zeros(n, dtype=np.bool_)
        self.os = (np.arange(n) % 3).astype(np.int8)
        self.name_base = np.arange(n, dtype=np.int32)
        self.name_seq = np.zeros(n, dtype=np.int32)
        self.last_server = np.full(n, home_slot, dtype=np.int8)
        self.synced_to = start_ms
        if cfg.absences:
            self._absent(cfg, seed, start_ms, initial_policy, absence_groups)

    def _absent(
        self,
        cfg: ClientsConfig,
        seed: tuple[int, ...],
        start_ms: int,
        initial_policy: npt.NDArray[np.int32],
        groups: Sequence[int | None],
    ) -> None:
        """``offline.absences``: exactly ``count`` clients per entry away at the start (moved into its group when it
        names one), gone since a random time in its ``since`` range before the start, back a random time in its
        ``back`` range after it, or never. Drawn from a stream of their own: fleets without absences are unchanged."""
        rng = np.random.default_rng([*seed, 104_729])
        order = rng.permutation(self.count)
        taken = 0
        for absence, group in zip(cfg.absences, [*groups, *([None] * len(cfg.absences))], strict=False):
            rows = order[taken : taken + absence.count]
            taken += rows.size
            if rows.size == 0:
                continue
            if group is not None:
                self.group[rows] = group
                self.applied[rows] = initial_policy[group]
            since = absence.since_min + rng.random(rows.size) * (absence.since_max - absence.since_min)
            self.off_start[rows] = start_ms - (since * 1000).astype(np.int64)
            if absence.back_min is None or absence.back_max is None:
                self.off_end[rows] = FOREVER
            else:
                back = absence.back_min + rng.random(rows.size) * (absence.back_max - absence.back_min)
                self.off_end[rows] = start_ms + np.maximum((back * 1000).astype(np.int64), 1)
            self.last_ok[rows] = self.off_start[rows] - 1
            self.changed_at[rows] = self.last_ok[rows]

    # --- schedule helpers ---------------------------------------------------------------------------------------
    def _last_beat_at_or_before(self, t: I64 | int) -> I64:
        h = self.heartbeat_ms
        beats: I64 = self.phase + np.floor_divide(t - self.phase, h) * h
        return beats

    def _first_beat_after(self, t: I64 | int) -> I64:
        return self._last_beat_at_or_before(t) + self.heartbeat_ms

    def offline_at(self, t: int) -> Mask:
        """Machines that are off (or away, or deleted) at virtual time ``t``."""
        return (self.off_start <= t) & (t < self.off_end)

    def _in_window(self, t: I64) -> Mask:
        return (self.off_start <= t) & (t < self.off_end)

    @property
    def live(self) -> Mask:
        return ~self.deleted

    # --- the one vectorised step --------------------------------------------------------------------------------
    def sync(self, now_ms: int, env: Environment) -> int:
        """Apply every check-in in ``(synced_to, now_ms]`` under ``env``; returns how many clients were orphaned."""
        t0, t1 = self.synced_to, now_ms
        if t1 <= t0:
            return 0
        self.synced_to = t1
        if env.served < 0 or self.count == 0:
            return 0  # no server of the site answers on its clients port: check-ins fail, nothing changes
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
        before = int(self.orphaned.sum())
        self._checkin(checked_in, first, env)
        # A second check-in changes something only for a client that applied, without learning the certificate
        # it was shown, a policy that needs it (``stale``): it fails there. Everyone else is at the fixed point.
        again = checked_in & self.stale
        if again.any():
            next_beat = self._first_beat_after(first)
            ok_next = (next_beat <= t1) & ~self._in_window(next_beat)
            second = np.minimum(
                np.where(ok_next, next_beat, FOREVER),
                np.where(came_back & (self.off_end > first), self.off_end, FOREVER),
            )
            self._checkin(again & (second <= t1), second, env)
        fine = checked_in & ~self.orphaned  # every later check-in reaches the same fixed point
        self.last_ok = np.where(fine, last, self.last_ok)
        self.changed_at = np.where(fine, last, self.changed_at)
        return int(self.orphaned.sum()) - before

    def _checkin(self, mask: Mask, at: I64 | int, env: Environment) -> None:
        """One check-in, at ``at``, of the clients in ``mask`` (see the module docstring for the rule)."""
        if env.served < 0:
            return  # no server answers: the check-in fails, nothing changes
        active = mask & ~self.orphaned & ~self.deleted
        trusts = self.trusted[:, env.slot] == env.served
        tls = active & env.policy_https[self.applied] & ~trusts
        verification = active & ~tls & env.policy_secure[self.applied] & ~trusts
        fails = tls | verification
        reason = np.where(self.stale, 3, np.where(tls, 2, 1)).astype(np.int8)
        self.orphaned |= fails
        self.orphaned_at = np.where(fails, at, self.orphaned_at)
        self.reason = np.where(fails, reason, self.reason)
        self.changed_at = np.where(fails, at, self.changed_at)
        ok = active & ~fails
        new = env.group_policy[self.group]
        self.applied = np.where(ok, new, self.applied).astype(np.int32)
        learns = ok & (env.learn_with_policy | ~env.policy_secure[new])
        self.trusted[learns] = env.site_certs
        self.stale = np.where(learns, False, np.where(ok, ~trusts, self.stale))
        self.last_ok = np.where(ok, at, self.last_ok)
        self.changed_at = np.where(ok, at, self.changed_at)
        self.last_server = np.where(ok, env.slot, self.last_server).astype(np.int8)

    # --- operations (call sync(now) first) ----------------------------------------------------------------------
    def set_offline(self, mask: Mask, now_ms: int, until_ms: int | None) -> int:
        """Take the machines in ``mask`` offline from now (until ``until_ms``, or indefinitely)."""
        target = mask & ~self.offline_at(now_ms) & ~self.deleted
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
        target = mask & self.offline_at(now_ms) & ~self.deleted
        self.off_end = np.where(target, now_ms, self.off_end)
        self._checkin(target, now_ms, env)
        return int(target.sum())

    def rehome(self, now_ms: int, env: Environment) -> tuple[int, int]:
        """Communication Update Package: online orphans trust the site's certificates again and check in.

        Returns ``(rehomed, still_orphaned_offline)``; an orphan that is offline cannot receive the package.
        """
        orphans = self.orphaned & ~self.deleted
        reachable = orphans & ~self.offline_at(now_ms)
        if env.served >= 0:
            self.orphaned &= ~reachable
            self.orphaned_at = np.where(reachable, NEVER, self.orphaned_at)
            self.reason = np.where(reachable, 0, self.reason).astype(np.int8)
            self.stale &= ~reachable
            self.trusted[reachable] = env.site_certs
            self._checkin(reachable, now_ms, env)
            return int(reachable.sum()), int((self.orphaned & ~self.deleted).sum())
        return 0, int(orphans.sum())

    def delete(self, rows: npt.NDArray[np.intp], now_ms: int) -> None:
        """The records of ``rows`` are deleted (machine removed or re-imaged): they never check in again."""
        self.deleted[rows] = True
        self.off_start[rows] = now_ms
        self.off_end[rows] = FOREVER
        self.changed_at[rows] = now_ms

    def append(self, columns: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.intp]:
        """Add records (every column given, ``len`` rows each); returns their row numbers."""
        k = len(columns["group"])
        for name, dtype in _COLUMNS.items():
            value = np.asarray(columns[name], dtype=dtype)
            setattr(self, name, np.concatenate((getattr(self, name), value)))
        rows = np.arange(self.count, self.count + k)
        self.count += k
        return rows

    # --- reading ------------------------------------------------------------------------------------------------
    def online(self, now_ms: int) -> Mask:
        """``onlineStatus`` 1: the machine is on and can talk to its manager (not away, not orphaned)."""
        return ~self.offline_at(now_ms) & ~self.orphaned & ~self.deleted
