"""The ``sepm-reconciler`` command line.

Commands are registered lazily (name → ``module:attribute``) so that ``sepm-reconciler validate`` does not pay for
importing the daemon, and so that each command lives in its own module under :mod:`reconciler.cli`.

Exit codes are a contract (see ``docs/cli.md``):

* ``0`` success / nothing to do / in sync
* ``1`` error, or an invalid spec
* ``2`` changes pending, drift, or a rollout in progress (``plan``, ``report``)
* ``64`` usage error (unknown option, missing argument) — kept apart from ``2`` on purpose
* ``130`` interrupted (Ctrl-C)
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from reconciler import __version__

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "cli", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130

ENV_PREFIX = "SEPM_RECONCILER"
"""Every option can also be set through the environment: ``SEPM_RECONCILER_<COMMAND>_<OPTION>`` (click's
``auto_envvar_prefix``; ``run --listen`` is ``SEPM_RECONCILER_RUN_LISTEN``), or the name its ``--help`` shows."""

# name -> "module:attribute". Add a command by adding a line here and a module beside this one.
COMMANDS: dict[str, str] = {
    "validate": "reconciler.cli.validate:validate",
    "simulate": "reconciler.cli.simulate:simulate",
    "sim-admin": "reconciler.cli.sim_admin:sim_admin",
    "demo": "reconciler.cli.demo:demo",
    "run": "reconciler.cli.run:run",
    "probe": "reconciler.cli.probe:probe",
    "diagram": "reconciler.cli.diagram:diagram",
    "status": "reconciler.cli.status:status",
    "history": "reconciler.cli.history:history",
    "approve": "reconciler.cli.approve:approve",
    "suspend": "reconciler.cli.suspend:suspend",
    "resume": "reconciler.cli.resume:resume",
    "abort": "reconciler.cli.abort:abort",
    "report": "reconciler.cli.report:report",
    "plan": "reconciler.cli.plan:plan",
    "forecast": "reconciler.cli.forecast:forecast",
    "reconcile": "reconciler.cli.reconcile:reconcile",
    "state": "reconciler.cli.state:state",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a programming error
            raise TypeError(f"{target} is not a click command")
        _show_envvars(command)
        return command


def _show_envvars(command: click.Command) -> None:
    """``--help`` names each option's environment variable."""
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _show_envvars(sub)


CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="sepm-reconciler")
def cli() -> None:
    """Rotate Symantec Endpoint Protection Manager server certificates without orphaning clients.

    You declare, in YAML committed to Git, the certificate each manager must present (see docs/spec.md). The
    reconciler observes every manager and walks it through the vendor's seven-step procedure — break replication,
    disable certificate verification, wait for clients, swap the certificate, re-enable verification, wait again,
    restore replication — acting only on what it observes.

    \b
    Start here:
      sepm-reconciler validate --specs specs/      check your specs (no network)
      sepm-reconciler demo                         watch a whole rotation on a simulated fleet

    Every option can also come from the environment, SEPM_RECONCILER_<COMMAND>_<OPTION> (each --help names it).

    Exit codes: 0 ok / in sync, 1 error or invalid, 2 changes pending or drift, 64 usage error.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map failures to the documented exit codes."""
    try:
        rv = cli.main(
            args=argv, prog_name="sepm-reconciler", standalone_mode=False, auto_envvar_prefix=ENV_PREFIX
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)
