"""Writes tests/data/state-v2/state-record-schema-2.db with sepm-reconciler at record schema 2 (main before #17)."""

import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from reconciler.core.procedure import Phase
from reconciler.core.record import RECORD_SCHEMA
from reconciler.store import open_store
from tests.support.manager import Driver, World, hooked

assert RECORD_SCHEMA == 2
out = Path(sys.argv[1])
out.unlink(missing_ok=True)
with open_store(f"sqlite:///{out}") as store:
    for name, phase in (
        ("sepm-soaking", Phase.WAITING_UNVERIFIED),
        ("sepm-swapping", Phase.UPDATING_CERTIFICATE),
        ("sepm-verified", Phase.WAITING_VERIFIED),
    ):
        d = Driver(hooked(name=name), World(name=name))
        if phase is Phase.UPDATING_CERTIFICATE:
            # the update hook attempt recorded, not completed: the daemon died while it ran
            d.run_until(Phase.UPDATING_CERTIFICATE, step=timedelta(hours=1))
            d.decide()
        else:
            d.run_until(phase, step=timedelta(hours=1))
        rec = d.record
        store.save(replace(rec, version=0), d.events)
    print([(r.server, r.phase.value, len(r.attempts)) for r in store.all()])
