"""``sepm-reconciler reconcile``: one tick for each server, acting — what the daemon does on its schedule, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import click

from reconciler.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from reconciler.cli._deadline import RunningHooks, cut_off_message, timeout_option, within_deadline
from reconciler.cli._live import (
    configure_logging,
    echo_spec_errors,
    load,
    require_servers,
    server_option,
    specs_option,
    state_option,
)
from reconciler.cli._options import output_option
from reconciler.core import wording
from reconciler.core.actions import Performer
from reconciler.core.procedure.table import STANDARD
from reconciler.engine import Engine, TickResult
from reconciler.engine.gather import select_servers
from reconciler.errors import Error
from reconciler.store import open_store, resolve_state_url

__all__ = ["reconcile", "render_result"]


def render_result(result: TickResult) -> list[str]:
    """The text lines of one server's tick."""
    before = result.phase_before.value if result.phase_before else "(first look)"
    step = f" (step {result.step}/{STANDARD.step_count})" if result.step else ""
    head = f"{result.server}: {result.phase_after.value}{step}"
    if result.phase_before is not result.phase_after:
        head = f"{result.server}: {before} → {result.phase_after.value}{step}"
    lines = [head, f"  {result.reason}"]
    action = result.action
    if action is not None:
        if action.performer is Performer.MANUAL:
            lines.append(f"  to do by hand (step {action.step}): {action.instructions}")
        else:
            via = "hook" if action.performer is Performer.COMMAND else "SEPM API"
            done = ""
            if result.outcome is not None:
                verdict = "succeeded" if result.outcome.succeeded else "failed"
                done = f": {verdict}" + (f" ({result.outcome.detail})" if result.outcome.detail else "")
            lines.append(
                f"  action: {action.summary} — {via}, attempt {action.attempt} of {action.max_attempts}{done}"
            )
            lines.append("  (only what is observed completes the step: the next tick checks)")
    if result.remedy:
        lines.append(f"  remedy: {result.remedy}")
    if result.conflict:
        lines.append("  another sepm-reconciler moved this server first: nothing was done this time")
    if result.error:
        lines.append(f"  error: {result.error}")
    lines.append(f"  next check: {wording.when(result.next_check_at)}")
    return lines


_T = TypeVar("_T")


async def _logged_out(engine: Engine, work: Awaitable[_T]) -> _T:
    """``work``, then every session the engine opened logged out of its manager."""
    try:
        return await work
    finally:
        await engine.aclose()


@click.command()
@specs_option
@state_option
@server_option
@output_option(
    "text", "json", help='text: what each server did and why; json: {"revision", "servers": [...]}.'
)
@timeout_option("handled")
@click.option("-v", "--verbose", count=True, help="Log what the engine does (-v info, -vv debug) on stderr.")
def reconcile(
    specs_path: Path,
    state_url: str | None,
    servers: tuple[str, ...],
    output: str,
    timeout: timedelta,
    verbose: int,
) -> int:
    """Observe every server once and move each one step forward where its facts allow — acting.

    For each server of the specs (concurrently): observe the manager, decide, save the decision (compare-and-set:
    if another sepm-reconciler moved the server first, nothing is done), then run at most one action — the hook
    of step 1, 4 or 7, or a SEPM API call of step 2, 5 or 7 — and record its result. A manual step only shows its
    instructions. Only observation completes a step: run reconcile again (or the daemon) to move on. The next
    check time says when that is useful.

    The specs must be valid (sepm-reconciler validate): with any error nothing is done. A server that cannot be
    reached, whose REST API refuses the credentials or presents an untrusted certificate, or whose certificate
    file, secrets or keystore cannot be used, holds where it is (the reason says which, file:line:field); the
    others go on. A server that is in the state but no longer in the specs is left as it is, and named.

    --timeout bounds the whole command: a server still being observed or decided at the deadline is cut off (as
    Ctrl-C would: what was saved stays, the next reconcile observes again) and named; a hook already running is
    never cut short by it — only by its own timeout.

    \b
    Examples:
      sepm-reconciler reconcile                                 # ./specs, ./.sepm-reconciler/state.db
      sepm-reconciler reconcile --specs /srv/specs --state sqlite:////var/lib/sepm-reconciler/state.db
      sepm-reconciler reconcile --server sepm-east-01 --output json

    \b
    Exit codes: 0 done (whatever the servers' phases), 1 an error (invalid specs, unusable state, or a server
    that could not be handled: unreachable, credentials refused, certificate, secret or keystore problem, or not
    handled within --timeout), 64 usage error (e.g. unknown --server), 130 interrupted (Ctrl-C: decisions made are saved; a running hook is stopped
    and judged by observation later).
    """
    configure_logging(verbose)
    spec_set = load(specs_path)
    if not spec_set.valid:
        echo_spec_errors(spec_set)
        click.echo(
            f"error: {specs_path}: {len(spec_set.errors)} error(s) in the specs: nothing was done "
            "(fix them; sepm-reconciler validate checks them)",
            err=True,
        )
        return EXIT_ERROR
    require_servers(spec_set, servers, specs_path)
    if not spec_set.servers:
        click.echo(f"{specs_path}: no ManagedServer in the specs: nothing to do")
        return EXIT_OK
    try:
        with open_store(resolve_state_url(state_url)) as store:
            hooks = RunningHooks()
            engine = Engine(spec_set, store, hook_runner=hooks)
            names = [s.name for s in select_servers(spec_set, servers or None)]
            done, cut = asyncio.run(
                _logged_out(
                    engine,
                    within_deadline(
                        {name: _tick(engine, name) for name in names},
                        deadline=timeout,
                        spare=hooks.servers.__contains__,
                    ),
                )
            )
            results = [done[name] for name in names if name in done]
            unmanaged = [] if servers else [r for r in store.all() if r.server not in spec_set.servers]
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo(
            "interrupted: every decision already made is saved; a hook that was running was stopped (SIGTERM, then "
            "SIGKILL), and its attempt stays recorded: the next reconcile (or the daemon) judges it by what it "
            "observes, after the hook's timeout, before trying again",
            err=True,
        )
        return EXIT_INTERRUPTED
    if output == "json":
        document = {
            "revision": spec_set.revision,
            "servers": [r.to_json() for r in results],
            "unmanaged": [{"name": r.server, "phase": r.phase.value, "step": r.step} for r in unmanaged],
            "timed_out": cut,
        }
        click.echo(json.dumps(document, indent=2))
    else:
        for result in results:
            click.echo("\n".join(render_result(result)))
        for record in unmanaged:
            step = f" (step {record.step}/{STANDARD.step_count})" if record.step else ""
            click.echo(
                f"{record.server}: in the state but no longer in the specs: left as it is, "
                f"{record.phase.value}{step} (status and report still show it)"
            )
        for name in cut:
            click.echo(
                f"{name}: not handled within {wording.span(timeout)} (--timeout): its tick was cut off — what it had "
                "saved stays, nothing half-done is trusted; the next reconcile observes again"
            )
    if cut:
        click.echo(cut_off_message("reconcile", timeout, cut), err=True)
        return EXIT_ERROR
    return EXIT_ERROR if any(r.error for r in results) else EXIT_OK


def _tick(engine: Engine, name: str) -> Callable[[], Awaitable[TickResult]]:
    return lambda: engine.tick(name)
