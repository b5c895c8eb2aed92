"""A population: the clients of one ``clients:`` block — homed on one server, in one domain — with their names,
their churn and their listing order.

**Names.** ``PREFIX`` + the row's number zero-padded (``EAST-PC000042``); a machine added by churn takes the number
of an existing one plus a sequence, ``EAST-PC000042-A000001``, so it sorts next to it (anywhere in the fleet, as
real names do). A re-imaged machine keeps its name (and hardware key) and gets a new ``uniqueId``: its old record
is deleted and a new one added.

**Churn** (``clients.churn``: ``addPerDay``, ``removePerDay``, ``reimagePerDay``) runs on the virtual clock: the
*k*-th event of a kind happens when ``(now - start) · perDay / 1 day`` passes *k*. Events are applied when the
site is brought up to date — before every API call — so a fleet changes between any two calls, and offset paging
over it skips or repeats rows. Which machine is removed or re-imaged is drawn from the seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from reconciler.sim.clients import ClientFleet
from reconciler.sim.fleet import ClientsConfig

__all__ = ["Population"]

_DAY_MS = 86_400_000
_SEQ_WIDTH = 6


@dataclass(slots=True)
class Population:
    fleet: ClientFleet
    cfg: ClientsConfig
    home: int  # slot of the home server in the site
    domain: int  # index of the domain in the site
    prefix: str
    width: int
    start_ms: int
    churn_seed: tuple[int, ...]
    initial_count: int = 0
    next_seq: int = 1
    churned_to: int = 0
    _rng: np.random.Generator = field(init=False)
    _order: npt.NDArray[np.intp] = field(init=False)  # every row, in name order
    _keys: npt.NDArray[np.int64] = field(init=False)  # the name key of each row of _order (sorted)
    _pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(list(self.churn_seed))
        self.initial_count = self.fleet.count
        self.churned_to = self.start_ms
        self._order = np.arange(self.fleet.count, dtype=np.intp)  # names are the row numbers, zero-padded
        self._keys = self._key(self._order)
        self._pattern = re.compile(
            rf"^{re.escape(self.prefix.upper())}(\d{{{self.width}}})(?:-A(\d{{{_SEQ_WIDTH}}}))?$"
        )

    # --- names --------------------------------------------------------------------------------------------------
    def name(self, row: int) -> str:
        base = f"{self.prefix}{int(self.fleet.name_base[row]):0{self.width}d}"
        seq = int(self.fleet.name_seq[row])
        return f"{base}-A{seq:0{_SEQ_WIDTH}d}" if seq else base

    def names(self, rows: npt.NDArray[np.intp]) -> list[str]:
        return [self.name(int(r)) for r in rows]

    def rows_named(self, name: str) -> npt.NDArray[np.intp]:
        """Every record (live or deleted) with this name, case-insensitive, oldest first."""
        match = self._pattern.match(name.upper())
        if match is None:
            return np.zeros(0, dtype=np.intp)
        base, seq = int(match.group(1)), int(match.group(2) or 0)
        fleet = self.fleet
        return np.flatnonzero((fleet.name_base == base) & (fleet.name_seq == seq))

    def _key(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        fleet = self.fleet
        key: npt.NDArray[np.int64] = (
            fleet.name_base[rows].astype(np.int64) * 10**_SEQ_WIDTH + fleet.name_seq[rows]
        )
        return key

    def order(self) -> npt.NDArray[np.intp]:
        """Every row in name order (records of one name oldest first), kept up to date as churn adds rows."""
        return self._order

    def _insert(self, rows: npt.NDArray[np.intp]) -> None:
        """Put new ``rows`` (the newest records) into the name order, after the older records of their name."""
        keys = self._key(rows)
        by_key = np.argsort(keys, kind="stable")
        rows, keys = rows[by_key], keys[by_key]
        at = np.searchsorted(self._keys, keys, side="right")
        self._order = np.insert(self._order, at, rows)
        self._keys = np.insert(self._keys, at, keys)

    # --- churn --------------------------------------------------------------------------------------------------
    def _events(self, per_day: float, t0: int, t1: int) -> int:
        def done(t: int) -> int:
            return int((t - self.start_ms) * per_day // _DAY_MS)

        return done(t1) - done(t0) if per_day else 0

    def churn(
        self, now_ms: int, current_policy: npt.NDArray[np.int32], site_certs: npt.NDArray[np.int16]
    ) -> int:
        """Apply the churn events due in ``(churned_to, now_ms]`` at ``now_ms`` (the fleet is synced to now).

        Returns how many records changed. New machines are installed with the site's current certificates and
        apply their group's current policy.
        """
        t0, self.churned_to = self.churned_to, max(self.churned_to, now_ms)
        c = self.cfg.churn
        if not c.active or now_ms <= t0:
            return 0
        fleet, rng = self.fleet, self._rng
        removes = self._events(c.remove_per_day, t0, now_ms)
        reimages = self._events(c.reimage_per_day, t0, now_ms)
        adds = self._events(c.add_per_day, t0, now_ms)
        changed = 0
        for kind, count in (("remove", removes), ("reimage", reimages)):
            live = np.flatnonzero(fleet.live)
            if count <= 0 or live.size == 0:
                continue
            rows = rng.choice(live, size=min(count, live.size), replace=False)
            fleet.delete(rows, now_ms)
            changed += rows.size
            if kind == "reimage":
                self._add(rows.size, now_ms, current_policy, site_certs, like=rows)
        if adds > 0:
            self._add(adds, now_ms, current_policy, site_certs, like=None)
            changed += adds
        return changed

    def _add(
        self,
        k: int,
        now_ms: int,
        current_policy: npt.NDArray[np.int32],
        site_certs: npt.NDArray[np.int16],
        *,
        like: npt.NDArray[np.intp] | None,
    ) -> None:
        fleet, rng = self.fleet, self._rng
        if like is not None:  # re-imaged: same name, group and hardware; a new uniqueId
            group, agent, os = fleet.group[like], fleet.agent[like], fleet.os[like]
            hardware = fleet.hardware[like]
            base, seq = fleet.name_base[like], fleet.name_seq[like]
        else:
            group = fleet.group_choices[rng.choice(len(fleet.group_choices), size=k, p=fleet.group_p)]
            agent = rng.choice(len(fleet.agent_p), size=k, p=fleet.agent_p).astype(np.int8)
            os = rng.integers(0, 3, size=k).astype(np.int8)
            hardware = rng.integers(0, 2**63, size=(k, 2), dtype=np.int64)
            base = rng.integers(0, max(self.initial_count, 1), size=k).astype(np.int32)
            seq = np.arange(self.next_seq, self.next_seq + k, dtype=np.int32)
            self.next_seq += k
        now = np.full(k, now_ms, dtype=np.int64)
        rows = fleet.append(
            {
                "group": group, "agent": agent, "os": os,
                "phase": rng.integers(0, fleet.heartbeat_ms, size=k, dtype=np.int64),
                "uid": rng.integers(0, 2**63, size=(k, 2), dtype=np.int64), "hardware": hardware,
                "created": now, "off_start": now, "off_end": now, "last_ok": now, "changed_at": now,
                "applied": current_policy[group], "trusted": np.tile(site_certs, (k, 1)),
                "orphaned": np.zeros(k, dtype=np.bool_), "orphaned_at": np.full(k, np.iinfo(np.int64).min // 4),
                "reason": np.zeros(k, dtype=np.int8), "stale": np.zeros(k, dtype=np.bool_),
                "deleted": np.zeros(k, dtype=np.bool_), "name_base": base, "name_seq": seq,
                "last_server": np.full(k, self.home, dtype=np.int8),
            }
        )  # fmt: skip
        self._insert(rows)
