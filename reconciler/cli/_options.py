"""Options shared by several commands, defined once so they read and behave the same everywhere."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["TEXT", "Text", "output_option"]

F = TypeVar("F", bound=Callable[..., Any])


def output_option(*formats: str, help: str = "Output format.") -> Callable[[F], F]:
    """``-o/--output FORMAT`` (first format is the default), passed to the command as ``output``."""

    def decorate(command: F) -> F:
        return click.option(
            "-o",
            "--output",
            "output",
            type=click.Choice(list(formats)),
            default=formats[0],
            show_default=True,
            help=help,
        )(command)

    return decorate


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _control(char: str) -> bool:
    """C0/C1 controls and DEL (a tab is fine), line and paragraph separators, bidirectional overrides."""
    return (char != "\t" and unicodedata.category(char) in ("Cc", "Zl", "Zp")) or char in _BIDI_CONTROLS


class Text(click.ParamType[str, Any]):
    """One line of text an operator types — a server name, who, why — kept in the state and shown in terminals and
    pages. Refused (usage error) when it is not valid UTF-8 (the bytes of a terminal set to another encoding), holds
    control characters (an escape sequence or a line break would rewrite what ``status`` shows) or bidirectional
    overrides, or is longer than ``max_length``."""

    name = "text"

    def __init__(self, max_length: int = 2000) -> None:
        self.max_length = max_length

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail(
                "is not valid UTF-8 text: set the terminal to UTF-8 (e.g. LANG=C.UTF-8) and type it again",
                param,
                ctx,
            )
        bad = next((c for c in text if _control(c)), None)
        if bad is not None:
            self.fail(
                f"holds the control character U+{ord(bad):04X}: write one line of plain text", param, ctx
            )
        if len(text) > self.max_length:
            self.fail(f"is {len(text)} characters long: at most {self.max_length}", param, ctx)
        return text


TEXT = Text()
