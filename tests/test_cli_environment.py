"""Every option of every command can come from the environment (click's ``auto_envvar_prefix``): the name is
``SEPM_RECONCILER_<COMMAND>_<OPTION>`` unless the option names its own (``SEPM_RECONCILER_STATE``, ``…_SPECS``), and
``--help`` shows it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest

from reconciler.cli import COMMANDS, ENV_PREFIX, cli, main


def _commands() -> Iterator[tuple[click.Context, click.Command]]:
    root = click.Context(cli, info_name="sepm-reconciler", auto_envvar_prefix=ENV_PREFIX)
    stack: list[tuple[click.Context, str]] = [(root, name) for name in sorted(COMMANDS)]
    while stack:
        parent, name = stack.pop()
        group = parent.command
        assert isinstance(group, click.Group)
        command = group.get_command(parent, name)
        assert command is not None, name
        ctx = click.Context(command, info_name=name, parent=parent)
        yield ctx, command
        if isinstance(command, click.Group):
            stack += [(ctx, sub) for sub in command.list_commands(ctx)]


OPTIONS = [
    pytest.param(ctx, param, id=f"{ctx.command_path.removeprefix('sepm-reconciler ')} --{param.name}")
    for ctx, command in _commands()
    for param in command.params
    if isinstance(param, click.Option) and param.name not in ("help", "version")
]


def test_every_command_has_options_to_check() -> None:
    assert len(OPTIONS) > 80


@pytest.mark.parametrize(("ctx", "param"), OPTIONS)
def test_every_option_reads_its_environment_variable(
    ctx: click.Context, param: click.Option, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert param.name is not None
    name = param.envvar if isinstance(param.envvar, str) else f"{ctx.auto_envvar_prefix}_{param.name.upper()}"
    assert name.startswith("SEPM_RECONCILER_"), name
    monkeypatch.setenv(name, "from-the-environment")
    assert param.resolve_envvar_value(ctx) == "from-the-environment"
    assert param.show_envvar or param.hidden  # and --help says so (hidden debug options are not shown at all)


def test_an_option_from_the_environment_works_end_to_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEPM_RECONCILER_DIAGRAM_TABLE", "codes")
    with pytest.raises(SystemExit) as exited:
        main(["diagram"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("| code | kind | when | what to do |")


def test_status_output_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from pathlib import Path

    from reconciler.core.record import new_record
    from reconciler.store import open_store
    from tests.support.manager import T0

    state = Path(str(tmp_path)) / "state.db"
    with open_store(f"sqlite:///{state}") as store:
        store.save(new_record("sepm-east-01", T0))
    monkeypatch.setenv("SEPM_RECONCILER_STATUS_OUTPUT", "json")
    monkeypatch.setenv("SEPM_RECONCILER_STATE", str(state))  # a plain path, from the shared variable
    with pytest.raises(SystemExit) as exited:
        main(["status"])
    assert exited.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in document["servers"]] == ["sepm-east-01"]
    assert document["lease"]["running"] is False
