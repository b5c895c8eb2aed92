"""``sepm-reconciler plan``: observe every server (never acting) and show what remains, why, and the earliest times."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reconciler.cli import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from reconciler.cli._deadline import cut_off_message, timeout_option, within_deadline
from reconciler.cli._live import (
    configure_logging,
    echo_spec_errors,
    load,
    open_state_if_any,
    require_servers,
    server_option,
    specs_option,
    state_option,
)
from reconciler.cli._options import output_option
from reconciler.cli.status import console
from reconciler.core import wording
from reconciler.core.procedure.table import STANDARD
from reconciler.engine import Gathered, SystemClock, gather
from reconciler.engine.gather import select_servers
from reconciler.engine.plan import ServerPlan, plan_offline, plan_server
from reconciler.errors import Error
from reconciler.specs import SpecSet
from reconciler.store import Store

__all__ = ["plan", "plan_exit_code", "render_markdown"]

_MARK = {"done": "✔", "current": "▶", "pending": "·", "stalled": "✖"}


def plan_exit_code(plans: list[ServerPlan], spec_errors: int) -> int:
    """1 on any error (spec, observation), else 2 when anything is pending or in progress, else 0."""
    if spec_errors or any(p.error for p in plans):
        return EXIT_ERROR
    if any(p.changes for p in plans):
        return EXIT_CHANGES
    return EXIT_OK


def _when(moment: datetime | None) -> str:
    return wording.when(moment) if moment is not None else "—"


def _headline(p: ServerPlan) -> str:
    if p.error:
        return "error"
    if p.in_sync:
        return "in sync"
    if p.phase.value == "stalled":
        return f"stalled at step {p.step}"
    where = (
        f"step {p.substep or p.step}/{STANDARD.step_count} ({p.phase.value})"
        if p.step
        else p.phase.value.replace("_", " ")
    )
    if p.record_phase is None:
        return f"not reconciled yet → {where}"
    return where


def _summary(plans: list[ServerPlan], spec_errors: int) -> str:
    synced = sum(p.in_sync and not p.changes for p in plans)
    changing = sum(p.changes and not p.error for p in plans)
    errors = sum(bool(p.error) for p in plans)
    text = f"{len(plans)} server(s): {synced} in sync, {changing} with changes pending or in progress, {errors} error(s)"
    return text + (f"; {spec_errors} spec error(s)" if spec_errors else "")


# --- text ----------------------------------------------------------------------------------------------------------


def render_text(console: Console, plans: list[ServerPlan], spec_set: SpecSet) -> None:
    for p in plans:
        console.print(f"[bold]{escape(p.name)}[/]: {escape(_headline(p))}")
        console.print(f"  now: {escape(p.reason)}", soft_wrap=True)
        if p.next_action:
            console.print(f"  the next reconcile would: {escape(p.next_action)}", soft_wrap=True)
        if p.remedy:
            console.print(f"  remedy: {escape(p.remedy)}", soft_wrap=True)
        if p.error:
            console.print(f"  [red]error[/]: {escape(p.error)}", soft_wrap=True)
        if p.steps:
            table = Table(show_lines=False, expand=True, box=None, pad_edge=False)
            table.add_column("STEP", no_wrap=True)
            table.add_column("BY", no_wrap=True)
            table.add_column("WAITS FOR", ratio=1)
            table.add_column("EARLIEST END (UTC)", no_wrap=True)
            for s in p.steps:
                waits = s.waits_for + "".join(f"\n[yellow]gate[/]: {escape(g)}" for g in s.gates)
                table.add_row(
                    f"{_MARK[s.status]} {s.label} {s.title}",
                    s.by,
                    waits if s.status != "done" else "[dim]done[/]",
                    _when(s.earliest_end) if s.status != "done" else "",
                )
            console.print(table)
            console.print(f"  earliest in sync: {_when(p.eta)}")
        for note in p.notes:
            console.print(f"  note: {escape(note)}", soft_wrap=True)
        console.print()
    console.print(
        escape(_summary(plans, len(spec_set.errors))) + f" (specs revision {escape(spec_set.revision)})"
    )


# --- markdown ------------------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def render_markdown(plans: list[ServerPlan], spec_set: SpecSet) -> str:
    """A pull-request comment: a summary table, the spec errors, then each server's remaining steps."""
    lines = [
        f"## sepm-reconciler plan — specs revision `{spec_set.revision}`",
        "",
        _summary(plans, len(spec_set.errors)),
        "",
    ]
    if spec_set.errors:
        lines += ["### Spec errors (nothing will be done until they are fixed)", ""]
        lines += [f"- `{_cell(str(issue))}`" for issue in spec_set.errors]
        lines.append("")
    if plans:
        lines += ["| server | now | next | earliest in sync |", "|---|---|---|---|"]
        for p in plans:
            nxt = p.next_action or ("—" if p.in_sync else "wait (see below)")
            eta = "now" if p.in_sync else _when(p.eta)
            lines.append(f"| `{p.name}` | {_cell(_headline(p))} | {_cell(nxt)} | {eta} |")
        lines.append("")
    for p in plans:
        lines += [f"### `{p.name}` — {_cell(_headline(p))}", "", f"> {_cell(p.reason)}", ""]
        if p.error:
            lines += [f"**Error:** {_cell(p.error)}", ""]
        if p.remedy:
            lines += [f"**Remedy:** {_cell(p.remedy)}", ""]
        if p.steps:
            lines += ["| step | by | waits for | gates | earliest end |", "|---|---|---|---|---|"]
            for s in p.steps:
                gates = "<br>".join(_cell(g) for g in s.gates) or ""
                lines.append(
                    f"| {_MARK[s.status]} {s.label} {s.title} | {s.by} | "
                    f"{'done' if s.status == 'done' else _cell(s.waits_for)} | {gates} | "
                    f"{'' if s.status == 'done' else _when(s.earliest_end)} |"
                )
            lines.append("")
        lines += [f"- {_cell(n)}" for n in p.notes]
        if p.notes:
            lines.append("")
    return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------------------------------


def _offline(spec_set: SpecSet, state_url: str | None, servers: tuple[str, ...], output: str) -> int:
    try:
        store = open_state_if_any(state_url)
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    try:
        records = {r.server: r for r in store.all()} if store is not None else {}
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    finally:
        if store is not None:
            store.close()
    now = SystemClock().now()
    chosen = select_servers(spec_set, servers or None)
    plans = [plan_offline(s, records.get(s.name), now=now, revision=spec_set.revision) for s in chosen]
    code = plan_exit_code(plans, len(spec_set.errors))
    if output == "json":
        click.echo(json.dumps({**_document(plans, spec_set, code, []), "offline": True}, indent=2))
    elif output == "markdown":
        click.echo(render_markdown(plans, spec_set))
    else:
        render_text(console(), plans, spec_set)
    return code


def _document(plans: list[ServerPlan], spec_set: SpecSet, code: int, timed_out: list[str]) -> dict[str, Any]:
    return {
        "revision": spec_set.revision,
        "exit_code": code,
        "spec_errors": [issue.to_json() for issue in spec_set.errors],
        "servers": [p.to_json() for p in plans],
        "timed_out": timed_out,
    }


async def _observe_all(
    spec_set: SpecSet, store: Store | None, names: tuple[str, ...], clock: SystemClock, deadline: timedelta
) -> tuple[dict[str, Gathered], list[str]]:
    """Every server observed (each on its own, so that one that never finishes is cut off alone at the deadline)."""

    def job(name: str) -> Any:
        return lambda: gather(spec_set, store, names=[name], clock=clock)

    servers = [s.name for s in select_servers(spec_set, names or None)]
    done, cut = await within_deadline({name: job(name) for name in servers}, deadline=deadline)
    return {name: found[name] for name, found in done.items()}, cut


@click.command()
@specs_option
@state_option
@server_option
@output_option(
    "text",
    "json",
    "markdown",
    help="text for a terminal, json for tools, markdown for a pull-request comment.",
)
@timeout_option("observed")
@click.option(
    "--offline",
    is_flag=True,
    help="Contact nothing and need no secret: what the specs ask for, against the last observation the state keeps "
    "(if any), and the steps each rollout would take — for a pull request's check.",
)
@click.option("-v", "--verbose", count=True, help="Log the observation (-v info, -vv debug) on stderr.")
def plan(
    specs_path: Path,
    state_url: str | None,
    servers: tuple[str, ...],
    output: str,
    timeout: timedelta,
    offline: bool,
    verbose: int,
) -> int:
    """Show what reconcile would do for each server and everything that remains — without acting.

    Every server is observed live (served certificates, replication, verification flags, client
    acknowledgement, the manager's clock); the state is only read (a missing state means nothing was reconciled
    yet). For each server: where it stands and why, what the next reconcile would do, and every remaining step
    with what it waits for, its gates (approvals, the maintenance window, partners) and the earliest time it can
    end — minimum soaks on the manager's clock, the window's next opening, assuming approvals and manual steps
    happen at once.

    \b
    Examples:
      sepm-reconciler plan                                   # ./specs and the default state
      sepm-reconciler plan --specs specs/ --server sepm-east-01
      sepm-reconciler plan --output markdown > plan.md       # the pull-request comment of the CI gate
      sepm-reconciler plan --offline -o markdown             # the same without network or secrets

    \b
    Exit codes (as terraform plan -detailed-exitcode): 0 nothing to do (every server in sync), 2 changes
    pending or a rollout in progress, 1 error (a spec error, an unusable state, a server that cannot be observed —
    unreachable, credentials refused, API certificate not trusted — or whose certificate file or keystore cannot
    be used — or a server not observed within --timeout), 64 usage error, 130 interrupted. With --offline: 0 every
    server in sync as last observed, 2 a rollout would start or is under way (or a server was never observed),
    1 a spec error.
    """
    configure_logging(verbose)
    spec_set = load(specs_path)
    if spec_set.errors and output == "text":
        echo_spec_errors(spec_set)
    require_servers(spec_set, servers, specs_path)
    clock = SystemClock()
    if offline:
        return _offline(spec_set, state_url, servers, output)
    try:
        store = open_state_if_any(state_url)
        try:
            gathered, cut = asyncio.run(_observe_all(spec_set, store, servers, clock, timeout))
        finally:
            if store is not None:
                store.close()
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted: nothing was changed (plan only observes)", err=True)
        return EXIT_INTERRUPTED
    now = clock.now()
    plans = [plan_server(g, now=now, revision=spec_set.revision) for g in gathered.values()]
    code = EXIT_ERROR if cut else plan_exit_code(plans, len(spec_set.errors))
    if output == "json":
        click.echo(json.dumps(_document(plans, spec_set, code, cut), indent=2))
    elif output == "markdown":
        click.echo(render_markdown(plans, spec_set))
        if cut:
            click.echo(f"\n**Not observed within {wording.span(timeout)} (`--timeout`):** {', '.join(cut)}")
    else:
        render_text(console(), plans, spec_set)
    if cut:
        click.echo(cut_off_message("plan", timeout, cut), err=True)
    return code
