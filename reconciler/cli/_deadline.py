"""``--timeout``: the overall deadline of the commands that contact the managers (``plan``, ``reconcile``).

A manager that answers a byte at a time, or pages without end, never trips a per-request timeout; the deadline bounds
the whole command instead. Each server is handled as its own task (at most ``concurrency`` at once); when the
deadline passes, the servers not finished are cut off (their task cancelled, as Ctrl-C would) and named — except a
server whose hook is running: a certificate swap is never cut short by ``--timeout``, only by its own ``timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.cli.run import DURATION
from reconciler.core import wording
from reconciler.hooks import HookResult, OnStart, run_hook

__all__ = ["DEFAULT_TIMEOUT", "RunningHooks", "cut_off_message", "timeout_option", "within_deadline"]

DEFAULT_TIMEOUT = "5m"

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def timeout_option(what: str) -> Callable[[F], F]:
    """``--timeout DURATION`` (default 5m), passed to the command as ``timeout``."""

    def decorate(command: F) -> F:
        return click.option(
            "--timeout",
            "timeout",
            type=DURATION,
            default=DEFAULT_TIMEOUT,
            show_default=True,
            metavar="DURATION",
            help=f"The deadline of the whole command: servers not {what} by then are cut off, named, and the exit "
            "code is 1 (a manager that drips its answers or pages without end cannot keep it running).",
        )(command)

    return decorate


def cut_off_message(command: str, timeout: timedelta, names: Sequence[str]) -> str:
    """The error line when the deadline cut servers off."""
    return (
        f"error: {command} did not finish within {wording.span(timeout)} (--timeout): {', '.join(names)} cut off. "
        "A manager that answers slowly, drips its answers or pages without end keeps its server from finishing; "
        f"run sepm-reconciler {command} --server NAME -v to see what it waits for, or give a large fleet a longer --timeout"
    )


class RunningHooks:
    """The real hook runner, remembering which servers have a hook running (so the deadline spares them)."""

    def __init__(self) -> None:
        self.servers: set[str] = set()

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        variables: Mapping[str, str],
        timeout_s: float,
        secrets: Sequence[str] = (),
        cwd: Path | None = None,
        environment: Mapping[str, str] | None = None,
        on_start: OnStart | None = None,
    ) -> HookResult:
        server = variables.get("SEPM_RECONCILER_SERVER", "")
        self.servers.add(server)
        try:
            return await run_hook(
                argv,
                variables=variables,
                timeout_s=timeout_s,
                secrets=secrets,
                cwd=cwd,
                environment=environment,
                on_start=on_start,
            )
        finally:
            self.servers.discard(server)


async def within_deadline(
    jobs: Mapping[str, Callable[[], Awaitable[T]]],
    *,
    deadline: timedelta,
    concurrency: int = 8,
    spare: Callable[[str], bool] = lambda name: False,
) -> tuple[dict[str, T], list[str]]:
    """Run every job (at most ``concurrency`` at once) until each is done or ``deadline`` (from now) has passed.

    At the deadline the jobs not done are cancelled, except those ``spare(name)`` says to let finish (a hook
    running). Returns the results by name and the names cut off, in the order of ``jobs``. An exception of a job
    that finished is raised (after every other job has ended).
    """
    if not jobs:
        return {}, []
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with limit:
            return await job()

    tasks = {name: asyncio.ensure_future(one(job)) for name, job in jobs.items()}
    try:
        _, pending = await asyncio.wait(tasks.values(), timeout=deadline.total_seconds())
    except asyncio.CancelledError:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    for name, task in tasks.items():
        if task in pending and not spare(name):
            task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    results = {name: task.result() for name, task in tasks.items() if not task.cancelled()}
    return results, [name for name, task in tasks.items() if task.cancelled()]
