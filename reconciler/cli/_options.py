"""Options shared by several commands, defined once so they read and behave the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["output_option"]

F = TypeVar("F", bound=Callable[..., Any])


def output_option(*formats: str, help: str = "Output format.") -> Callable[[F], F]:
    """``--output FORMAT`` (first format is the default), passed to the command as ``output``."""

    def decorate(command: F) -> F:
        return click.option(
            "--output",
            "output",
            type=click.Choice(list(formats)),
            default=formats[0],
            show_default=True,
            help=help,
        )(command)

    return decorate
