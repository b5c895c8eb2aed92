"""A reason as data: its stable code and the facts its sentence is rendered from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.codes import Code

__all__ = ["Said"]


@dataclass(frozen=True, slots=True)
class Said:
    """``code`` is what scripts match on; ``facts`` what the sentence says (numbers, names, times, and other
    :class:`Said` it builds on). The sentence itself comes from :func:`reconciler.core.sentences.sentence`
    only."""

    code: Code
    facts: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.facts.get(key, default)

    def but(self, code: Code | None = None, /, **facts: Any) -> Said:
        """The same reason with another code and/or more facts."""
        return Said(code or self.code, {**self.facts, **facts})
