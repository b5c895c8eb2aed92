#!/usr/bin/env python3
"""Test wrapper around a simulator hook: ``counted.py HOOK.py`` records the run, then runs ``HOOK.py``.

Each run appends two JSON lines to ``$SEPM_TEST_MARKERS`` ("start" and "end" with the exit code): server, step,
rollout id, attempt, pid, hook name, and the arguments it got (so a test can check no secret is among them).
``$SEPM_TEST_SLOW_STEP`` / ``$SEPM_TEST_SLOW_SECONDS`` make the hook of that step wait first, so a test can signal
the daemon while a hook runs. With ``$SEPM_TEST_RECORD_ENV`` set, the "start" line also carries the hook's whole
environment (a test checks which secrets reached it). ``$SEPM_TEST_SLOW_ATTEMPT`` limits the wait to that attempt.
Each run holds a lock per (server, step) while it lives: a run that finds it taken marks "overlap" (two runs of one
step at once — what must never happen).
"""

from __future__ import annotations

import fcntl
import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

ARGS = sys.argv[1:]


def mark(event: str, **extra: Any) -> None:
    line = {
        "event": event,
        "server": os.environ.get("SEPM_RECONCILER_SERVER"),
        "step": os.environ.get("SEPM_RECONCILER_STEP"),
        "rollout": os.environ.get("SEPM_RECONCILER_ROLLOUT_ID"),
        "attempt": os.environ.get("SEPM_RECONCILER_ATTEMPT"),
        "pid": os.getpid(),
        "hook": Path(ARGS[0]).name,
        "argv": ARGS,
        **extra,
    }
    fd = os.open(os.environ["SEPM_TEST_MARKERS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


target = Path(sys.argv[1])
mark("start", **({"env": dict(os.environ)} if os.environ.get("SEPM_TEST_RECORD_ENV") else {}))
lock_path = f"{os.environ['SEPM_TEST_MARKERS']}.{os.environ.get('SEPM_RECONCILER_SERVER')}.{os.environ.get('SEPM_RECONCILER_STEP')}.lock"
lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # held until this process ends, however it ends
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    mark("overlap")
slow_attempt = os.environ.get("SEPM_TEST_SLOW_ATTEMPT")
if os.environ.get("SEPM_TEST_SLOW_STEP") == os.environ.get("SEPM_RECONCILER_STEP") and (
    slow_attempt is None or slow_attempt == os.environ.get("SEPM_RECONCILER_ATTEMPT")
):
    time.sleep(float(os.environ.get("SEPM_TEST_SLOW_SECONDS", "3")))
sys.argv = [str(target)]
sys.path.insert(0, str(target.parent))
code: int | str | None = 0
try:
    runpy.run_path(str(target), run_name="__main__")
except SystemExit as exc:
    code = exc.code
    raise
finally:
    mark("end", code=code)
