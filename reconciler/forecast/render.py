"""The forecast, for a terminal (text), for tools (JSON, documented in docs/forecast.md) and for a pull-request
comment (Markdown: a summary table, then each server's steps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reconciler.core import wording
from reconciler.core._storage import iso
from reconciler.forecast.summary import ServerForecast, Spread

__all__ = ["Settings", "document", "render_markdown", "render_text", "summary_table"]


@dataclass(frozen=True, slots=True)
class Settings:
    """How the forecast was made (shown with it)."""

    runs: int
    seed: int
    resolution: timedelta
    sample: int
    revision: str
    made_at: datetime


def _span(seconds: float | None) -> str:
    return "—" if seconds is None else wording.span(timedelta(seconds=seconds))


def _count(spread: Spread | None) -> str:
    if spread is None:
        return "—"
    median = wording.count(round(spread.median))
    if round(spread.least) == round(spread.most):
        return median
    return f"{median} ({wording.count(round(spread.least))}–{wording.count(round(spread.most))})"


def _at_risk(f: ServerForecast) -> str:
    return "; ".join(f"when step {label} began: {_count(spread)}" for label, spread in f.at_risk.items())


def _start_by(f: ServerForecast, now: datetime) -> str:
    if f.latest_start is None:
        return "—" if f.not_after is None else "cannot be computed"
    late = " (already past)" if f.latest_start < now else ""
    return wording.when(f.latest_start) + late


def _stalls(f: ServerForecast) -> str:
    if not f.stalls:
        return "none"
    return "; ".join(
        f"{code} at step {step} in {runs}/{f.runs} run(s){' (accepted, resumed)' if continued else ''}"
        for code, step, runs, continued in f.stalls
    )


def _approvals(f: ServerForecast) -> list[str]:
    out = []
    for step, accept, runs, after in f.approvals:
        what = f"step {step} — accepting the clients at risk" if accept else f"step {step}"
        out.append(f"{what}: needed in {runs}/{f.runs} run(s), {_span(after)} after the start (median)")
    return out


def summary_table(forecasts: Sequence[ServerForecast], now: datetime) -> list[str]:
    """The Markdown summary table (also what the CI comment includes)."""
    labels = list(forecasts[0].at_risk) if forecasts else []
    risk = " / ".join(labels)
    lines = [
        f"| server | clients | median | p90 | at risk at {risk} | stalls | orphaned in the twin | start by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in forecasts:
        total = f.total
        at = " / ".join(_count(f.at_risk[label]) for label in labels)
        lines.append(
            f"| `{f.server}` | {wording.count(f.reading.clients)} | {_span(total.median if total else None)} | "
            f"{_span(total.p90 if total else None)} | {at} | {_stalls(f)} | {_count(f.orphaned)} | "
            f"{_start_by(f, now)} |"
        )
    return lines


def render_markdown(
    forecasts: Sequence[ServerForecast], settings: Settings, errors: Mapping[str, str]
) -> str:
    lines = [
        f"## sepm-reconciler forecast — specs revision `{settings.revision}`",
        "",
        f"{settings.runs} rehearsal(s) of the rollout on a twin of each manager (seed {settings.seed}, durations to "
        f"within {wording.span(settings.resolution)}).",
        "",
        *summary_table(forecasts, settings.made_at),
        "",
    ]
    for name, error in sorted(errors.items()):
        lines += [f"**`{name}` could not be read:** {error}", ""]
    for f in forecasts:
        lines += [f"### `{f.server}`", "", "| step | median | p90 |", "|---|---|---|"]
        for step in f.steps:
            if step.seconds is not None:
                lines.append(
                    f"| {step.label} {step.title} | {_span(step.seconds.median)} | {_span(step.seconds.p90)} |"
                )
        lines += ["", *[f"- approval: {a}" for a in _approvals(f)]]
        if f.assumed:
            lines += ["", "<details><summary>assumed (not read)</summary>", ""]
            lines += [f"- {a}" for a in f.assumed]
            lines += ["", "</details>"]
        lines.append("")
    return "\n".join(lines)


def render_text(
    console: Console, forecasts: Sequence[ServerForecast], settings: Settings, errors: Mapping[str, str]
) -> None:
    for f in forecasts:
        r = f.reading
        sample = f" (twin: a sample of {wording.count(f.twin.twin_clients)})" if f.twin.scale < 1.0 else ""
        console.print(
            f"[bold]{escape(f.server)}[/]: {wording.count(r.clients)} clients{sample}, "
            f"{wording.count(r.away)} away now, {sum(len(d.groups) for d in r.domains)} groups in "
            f"{len(r.domains)} domain(s); read at {wording.when(r.manager_time)} (manager clock)"
        )
        table = Table(box=None, pad_edge=False)
        table.add_column("STEP", no_wrap=True)
        table.add_column("MEDIAN", no_wrap=True, justify="right")
        table.add_column("P90", no_wrap=True, justify="right")
        for step in f.steps:
            if step.seconds is not None:
                table.add_row(
                    f"{step.label} {step.title}", _span(step.seconds.median), _span(step.seconds.p90)
                )
        total = f.total
        table.add_row(
            f"[bold]total[/] ({f.finished}/{f.runs} runs finished)",
            _span(total.median if total else None),
            _span(total.p90 if total else None),
        )
        console.print(table)
        console.print(f"  clients at risk {_at_risk(f)}")
        orphaned = f.orphaned.median if f.orphaned is not None else 0
        hint = " — [red]the rollout as specified orphans clients on a strict manager[/]" if orphaned else ""
        console.print(f"  orphaned in the twin (its ground truth): {_count(f.orphaned)}{hint}")
        console.print(f"  stalls: {escape(_stalls(f))}")
        for line in _approvals(f) or ["none needed"]:
            console.print(f"  approvals: {escape(line)}")
        if f.manual:
            console.print("  manual steps done at once: " + ", ".join(f"{s} ({n} runs)" for s, n in f.manual))
        if f.window_wait is not None and f.window_wait.most > 0:
            console.print(
                f"  waited for the maintenance window: {_span(f.window_wait.median)} (median), "
                f"{_span(f.window_wait.p90)} (p90)"
            )
        if f.not_after is not None:
            console.print(
                f"  the certificate served now expires {wording.when(f.not_after)}: start by "
                f"{_start_by(f, settings.made_at)} to finish before (p90)"
            )
        for reason in f.reasons:
            console.print(f"  [red]not finished[/]: {escape(reason)}", soft_wrap=True)
        for note in f.assumed:
            console.print(f"  [dim]assumed: {escape(note)}[/]", soft_wrap=True)
        console.print()
    for name, error in sorted(errors.items()):
        console.print(f"[red]{escape(name)}: not read[/]: {escape(error)}", soft_wrap=True)
    console.print(
        f"{settings.runs} run(s) per server, seed {settings.seed}, durations to within "
        f"{wording.span(settings.resolution)} (specs revision {escape(settings.revision)})"
    )


def document(
    forecasts: Sequence[ServerForecast], settings: Settings, errors: Mapping[str, str], code: int
) -> dict[str, Any]:
    return {
        "made_at": iso(settings.made_at),
        "revision": settings.revision,
        "runs": settings.runs,
        "seed": settings.seed,
        "resolution_seconds": settings.resolution.total_seconds(),
        "sample": settings.sample,
        "exit_code": code,
        "servers": [f.to_json() for f in forecasts],
        "errors": dict(sorted(errors.items())),
    }
