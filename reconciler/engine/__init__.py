"""The engine: one tick per server — gather → decide → persist → act (at most once) → record the outcome.

Public surface (used by the CLI, the daemon and the report):

* :func:`gather` / :class:`Gathered` — live observation of the servers of a spec set, never acting, never writing;
* :class:`Engine` — ``await engine.tick(name)`` per server → :class:`TickResult`; ``engine.update_specs(spec_set)``
  swaps in a new valid spec set; ``await engine.tick_all()`` ticks every server once;
* :class:`ActionOutcome` (how a hook or API action ended), :class:`HookRunner` (what runs hooks),
  :class:`SystemClock`, :data:`ClientFactory` / :func:`default_client` (how REST clients are built);
* :mod:`reconciler.engine.plan` — the remaining steps of a server and their earliest times (``sepm-reconciler plan``).
"""

from reconciler.engine.act import ActionOutcome, HookRunner
from reconciler.engine.gather import ClientFactory, Gathered, default_client, gather
from reconciler.engine.result import TickResult
from reconciler.engine.tick import Engine, SystemClock

__all__ = [
    "ActionOutcome",
    "ClientFactory",
    "Engine",
    "Gathered",
    "HookRunner",
    "SystemClock",
    "TickResult",
    "default_client",
    "gather",
]
