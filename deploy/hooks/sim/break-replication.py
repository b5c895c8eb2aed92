#!/usr/bin/env python3
"""Step 1 hook for the SEPM simulator: delete the replication partnership with each partner (on both sites).

The simulator's stand-in for the console's Admin > Servers > Local Site > Replication Partners > Delete. Use it as
``spec.rollout.actions.breakReplication`` of a server managed by ``sepm-reconciler simulate``::

    breakReplication: {command: [python3, deploy/hooks/sim/break-replication.py], timeout: 5m}

Environment: ``SEPM_RECONCILER_PARTNERS`` (set by the reconciler), ``SEPM_SIM_PORTS_FILE`` and optionally
``SEPM_SIM_MANAGER`` (see ``_simadmin.py``). Idempotent: a partnership already gone (the partner's own step 1 may
have deleted it) is fine. Exit 0 done, 1 the simulator refused, 2 misconfigured. The reconciler completes step 1
only when it observes the partnership gone, whatever this exits with.
"""

from __future__ import annotations

from _simadmin import SimAdmin, partners

admin = SimAdmin()
for partner in partners():
    status, _ = admin.call("POST", "/replication/partners/delete", {"partner": partner}, ok=(404,))
    print(f"{admin.name}: partnership with {partner} " + ("already gone" if status == 404 else "deleted"))
