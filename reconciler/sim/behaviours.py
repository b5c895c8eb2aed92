"""Named behaviours: where real SEPM behaviour is unknown, the simulator does the most dangerous plausible thing.

Each behaviour is a key under ``behaviours:`` in the fleet file (fleet-wide at the top, or per manager) and can be
switched at run time by ``POST /_sim/behaviours``. The default of each is its **strict** value; ``behaviours:
lenient`` restores the simulator's earlier, kinder behaviour for all of them (it exists only to compare). The
evidence for each, and which way is strict, is in ``docs/simulator.md``.

=============================  ====================================  ========================================
key                            strict (default)                      lenient
=============================  ====================================  ========================================
``managementServerLists``      one HTTPS list, ``Default …``         the same list over HTTP
``certificateWithPolicy``      ``false``                             ``true``
``listNameInSettings``         ``false``                             ``true``
``domainScope``                ``login``                             ``all``
``deletedRows``                ``true``                              ``false``
``throttle``                   ``{threshold: 50, windowMinutes: 1,   ``false`` (no throttle)
                               retryAfter: false}``
``settingsPatch``              ``replace``                           ``merge``
``noopPatchBumpsSerial``       ``false``                             ``true``
``replicationStatusShape``     ``array``                             ``object``
``rejoin``                     ``overwrite``                         ``overwrite``
=============================  ====================================  ========================================

``managementServerLists``, ``certificateWithPolicy``, ``deletedRows`` and ``rejoin`` belong to the site (its one
database and its clients): every manager of a site must agree on them, and a run-time change through any manager
changes the site.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BEHAVIOUR_KEYS",
    "DEFAULT_LIST",
    "LENIENT",
    "SITE_KEYS",
    "STRICT",
    "BehaviourError",
    "Behaviours",
    "ListSpec",
    "ThrottleSpec",
    "resolve",
]

DEFAULT_LIST = "Default Management Server List"
PROTOCOLS = ("https", "http")


class BehaviourError(ValueError):
    """A behaviour value that cannot be used. ``path`` is where, below ``behaviours``, e.g. ``("throttle",
    "threshold")``."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A management server list: its name and the protocol clients use to reach the servers on it."""

    name: str
    protocol: str  # "https" | "http"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "protocol": self.protocol}


@dataclass(frozen=True, slots=True)
class ThrottleSpec:
    """``scm.web.service.rest.throttle.threshold`` calls per ``…window.mins`` minutes; ``retry_after``: whether a
    429 carries a ``Retry-After`` header."""

    threshold: int = 50
    window_minutes: float = 1.0
    retry_after: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "windowMinutes": self.window_minutes,
            "retryAfter": self.retry_after,
        }


@dataclass(frozen=True, slots=True)
class Behaviours:
    management_server_lists: tuple[ListSpec, ...] = (ListSpec(DEFAULT_LIST, "https"),)
    certificate_with_policy: bool = False
    list_name_in_settings: bool = False
    domain_scope: str = "login"
    deleted_rows: bool = True
    throttle: ThrottleSpec | None = ThrottleSpec()
    settings_patch: str = "replace"
    noop_patch_bumps_serial: bool = False
    replication_status_shape: str = "array"
    rejoin: str = "overwrite"

    def to_json(self) -> dict[str, Any]:
        return {key: spec.dump(getattr(self, spec.attr)) for key, spec in _SPECS.items()}

    def site_part(self) -> tuple[Any, ...]:
        return tuple(getattr(self, _SPECS[k].attr) for k in SITE_KEYS)


STRICT = Behaviours()
LENIENT = Behaviours(
    management_server_lists=(ListSpec(DEFAULT_LIST, "http"),),
    certificate_with_policy=True,
    list_name_in_settings=True,
    domain_scope="all",
    deleted_rows=False,
    throttle=None,
    settings_patch="merge",
    noop_patch_bumps_serial=True,
    replication_status_shape="object",
    rejoin="overwrite",
)


# --- parsing --------------------------------------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BehaviourError("expected true or false")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise BehaviourError(f"expected one of: {', '.join(choices)}")
        return str(value)

    return parse


def _lists(value: Any) -> tuple[ListSpec, ...]:
    if not isinstance(value, list) or not value:
        raise BehaviourError("expected a non-empty list of {name: NAME, protocol: https|http}")
    out: list[ListSpec] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise BehaviourError("expected {name: NAME, protocol: https|http}", (i,))
        for key in item:
            if key not in ("name", "protocol"):
                raise BehaviourError("unknown key; expected one of: name, protocol", (i, str(key)))
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BehaviourError("expected the list's name (a non-empty string)", (i, "name"))
        protocol = item.get("protocol", "https")
        if protocol not in PROTOCOLS:
            raise BehaviourError("expected https or http", (i, "protocol"))
        if any(spec.name == name for spec in out):
            raise BehaviourError(f"duplicate list name {name!r}", (i, "name"))
        out.append(ListSpec(name, str(protocol)))
    return tuple(out)


def _throttle(value: Any) -> ThrottleSpec | None:
    if value is None or value is False or value == "off":
        return None
    if value is True:
        return ThrottleSpec()
    if not isinstance(value, Mapping):
        raise BehaviourError("expected false (no throttle), true (the shipped default) or {threshold, windowMinutes, "
                             "retryAfter}")  # fmt: skip
    for key in value:
        if key not in ("threshold", "windowMinutes", "retryAfter"):
            raise BehaviourError(
                "unknown key; expected one of: retryAfter, threshold, windowMinutes", (str(key),)
            )
    threshold = value.get("threshold", 50)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise BehaviourError("expected a whole number of calls ≥ 1", ("threshold",))
    window = value.get("windowMinutes", 1)
    if isinstance(window, bool) or not isinstance(window, int | float) or not 0 < window <= 1440:
        raise BehaviourError("expected a number of minutes above 0 (at most 1440)", ("windowMinutes",))
    retry_after = value.get("retryAfter", False)
    if not isinstance(retry_after, bool):
        raise BehaviourError("expected true or false", ("retryAfter",))
    return ThrottleSpec(threshold, float(window), retry_after)


@dataclass(frozen=True, slots=True)
class _Spec:
    attr: str
    parse: Callable[[Any], Any]
    dump: Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


_SPECS: dict[str, _Spec] = {
    "managementServerLists": _Spec(
        "management_server_lists", _lists, lambda v: [spec.to_json() for spec in v]
    ),
    "certificateWithPolicy": _Spec("certificate_with_policy", _bool, _same),
    "listNameInSettings": _Spec("list_name_in_settings", _bool, _same),
    "domainScope": _Spec("domain_scope", _choice("login", "all"), _same),
    "deletedRows": _Spec("deleted_rows", _bool, _same),
    "throttle": _Spec("throttle", _throttle, lambda v: False if v is None else v.to_json()),
    "settingsPatch": _Spec("settings_patch", _choice("replace", "merge"), _same),
    "noopPatchBumpsSerial": _Spec("noop_patch_bumps_serial", _bool, _same),
    "replicationStatusShape": _Spec("replication_status_shape", _choice("array", "object"), _same),
    "rejoin": _Spec("rejoin", _choice("overwrite", "merge"), _same),
}
BEHAVIOUR_KEYS: tuple[str, ...] = tuple(_SPECS)
SITE_KEYS: tuple[str, ...] = ("managementServerLists", "certificateWithPolicy", "deletedRows", "rejoin")


def resolve(base: Behaviours, raw: Any) -> Behaviours:
    """``base`` changed by ``raw``: ``"strict"``, ``"lenient"``, or a mapping of any subset of the keys.

    Raises :class:`BehaviourError` (nothing changed) for an unknown key or value; ``path`` says where.
    """
    if raw == "strict":
        return STRICT
    if raw == "lenient":
        return LENIENT
    if not isinstance(raw, Mapping):
        raise BehaviourError(
            f"expected strict, lenient, or a mapping of behaviours ({', '.join(BEHAVIOUR_KEYS)})"
        )
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        spec = _SPECS.get(str(key))
        if spec is None:
            raise BehaviourError(
                f"unknown behaviour; expected one of: {', '.join(sorted(BEHAVIOUR_KEYS))}", (str(key),)
            )
        try:
            changes[spec.attr] = spec.parse(value)
        except BehaviourError as exc:
            raise BehaviourError(exc.message, (str(key), *exc.path)) from None
    return dataclasses.replace(base, **changes)
