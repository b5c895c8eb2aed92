#!/usr/bin/env python3
"""Steps 2a and 5b hook for the SEPM simulator: assign a management server list to every group and location.

The simulator's stand-in for the console's Policies > Policy Components > Management Server Lists > (right-click a
list) > Assign, to all groups and locations (SEPM has no REST endpoint for lists). Use it as both
``spec.rollout.actions.switchToHttpList`` (2a: the HTTP copy) and ``restoreOriginalList`` (5b, and a roll-back: the
original list)::

    switchToHttpList: {command: [python3, deploy/hooks/sim/assign-list.py], timeout: 5m}
    restoreOriginalList: {command: [python3, deploy/hooks/sim/assign-list.py], timeout: 5m}

Environment: ``SEPM_RECONCILER_LIST`` (the list to assign, set by the reconciler: ``managementServerList.http`` in
2a, ``.original`` in 5b), ``SEPM_SIM_PORTS_FILE`` and optionally ``SEPM_SIM_MANAGER`` (see ``_simadmin.py``).

It does not create the HTTP copy: as the vendor's KB 187099 has it, an operator copies the clients' list once and
sets the copy to HTTP (``sepm-reconciler sim-admin list-set NAME --protocol http --copy-of ORIGINAL``), on one site
of a replicating pair. Idempotent: assigning a list the groups already use changes nothing. Exit 0 done, 1 the
simulator refused (an unknown list: create it first), 2 misconfigured. The reconciler completes the step only on its
own observation (the list read back, or the policy serials moved).
"""

from __future__ import annotations

import os

from _simadmin import SimAdmin, fail

name = os.environ.get("SEPM_RECONCILER_LIST", "")
if not name:
    fail("SEPM_RECONCILER_LIST is not set: run this as the reconciler's hook of step 2a or 5b", 2)

admin = SimAdmin()
_, answer = admin.call("POST", "/lists/assign", {"list": name, "groups": None})
groups = answer.get("assigned", [])
print(f"{admin.name}: management server list {name} assigned to {len(groups)} group(s) and their locations")
