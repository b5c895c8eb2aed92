#!/usr/bin/env python3
"""Step 7 hook for the SEPM simulator: add the replication partnership with each partner again.

The simulator's stand-in for the console's Admin > Servers > Local Site > Replication Partners > Add Existing
Replication Partner. As in SEPM, the joining site's group settings are overwritten with the partner's: the
reconciler re-checks the verification flag afterwards. Use it as ``spec.rollout.actions.restoreReplication``::

    restoreReplication: {command: [python3, deploy/hooks/sim/restore-replication.py], timeout: 5m}

Also run for a rollback (``SEPM_RECONCILER_STEP`` is 7 then too). Environment: ``SEPM_RECONCILER_PARTNERS``,
``SEPM_SIM_PORTS_FILE``, optionally ``SEPM_SIM_MANAGER`` (see ``_simadmin.py``). Idempotent: a partnership that
already exists (the partner restored it first) is fine. Exit 0 done, 1 refused (e.g. 503: the partner is down),
2 misconfigured.
"""

from __future__ import annotations

from _simadmin import SimAdmin, partners

admin = SimAdmin()
for partner in partners():
    status, _ = admin.call("POST", "/replication/partners/add", {"partner": partner}, ok=(409,))
    print(f"{admin.name}: partnership with {partner} " + ("already there" if status == 409 else "restored"))
