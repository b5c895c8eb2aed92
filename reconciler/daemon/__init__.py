"""The daemon (``sepm-reconciler run``): APScheduler jobs, the lease, spec reloads, HTTP endpoints, notifications.

Internal modules, used by :mod:`reconciler.cli.run` and the demo (the public surface is the command, its endpoints,
metrics and JSON — see docs/daemon.md):

* :mod:`.loop` — :class:`~reconciler.daemon.loop.Daemon`, the run loop: lease, spec reloads, shutdown;
* :mod:`.jobs` — one scheduler job per server, the tick under a timeout;
* :mod:`.gate` — no new action while stopping or on standby;
* :mod:`.specwatch` — noticing and loading spec changes, keeping the last valid set;
* :mod:`.state` — runtime state, liveness and readiness;
* :mod:`.http`, :mod:`.page`, :mod:`.metrics`, :mod:`.server` — the endpoints;
* :mod:`.notify`, :mod:`.logs` — webhook notifications and structured logs;
* :mod:`.config` — the settings.
"""
