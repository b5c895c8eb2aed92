"""The group location settings document: exactly the fields of the vendor Swagger's
``SettingsGroupSettingsConfigurationObject``, with plausible values, and the two PATCH semantics.

The model below is written out by hand (the simulator does not read the Swagger at run time); a contract test checks
it field by field against the vendored Swagger, so it cannot drift.

* ``merge`` (lenient): the body is deep-merged into the stored document; omitted fields keep their values.
* ``replace`` (strict): every object *named* in the body replaces the stored one; its omitted fields take the
  Swagger defaults (``false`` for booleans, as the Swagger declares), recursively — and for fields the Swagger gives
  no default: the minimum (or ``0``), ``""``, the first value of an enumeration, ``[]``, ``{}``; a string with a
  minimum length is left unset (out of the document, as the password and proxy credentials are). The document's root is not replaced
  (``lockedoptions`` survives a body that only names ``configuration``). So the minimal body
  ``{"configuration": {"general_settings": {"security_settings": {"secure_communications": false}}}}`` resets
  ``stopped_mode``, tamper protection, the heartbeats … of that group.

Either way, a body with an undeclared field, a wrong type or a value outside an enumeration is refused (400) and
nothing changes. The management server list (``communication_settings.sem_server``) is kept out of the stored
document: the group's list is stored on the group, and :mod:`reconciler.sim.groups` shows it or not
(``listNameInSettings``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MODEL",
    "Arr",
    "Bool",
    "Free",
    "Int",
    "Obj",
    "SettingsError",
    "Str",
    "initial_document",
    "merge",
    "replace",
    "reset",
    "validate",
]


class SettingsError(ValueError):
    """A settings PATCH body SEPM would answer with 400."""


@dataclass(frozen=True, slots=True)
class Bool:
    default: bool = False


@dataclass(frozen=True, slots=True)
class Int:
    lo: int | None = None  # the Swagger's minimum / maximum
    hi: int | None = None


@dataclass(frozen=True, slots=True)
class Str:
    enum: tuple[str, ...] = ()
    min_len: int = 0  # the Swagger's minLength / maxLength; a field with a minimum is left out while unset
    max_len: int | None = None


@dataclass(frozen=True, slots=True)
class Free:
    """An object the Swagger declares without properties (``lockedoptions``, ``immediate`` …)."""


@dataclass(frozen=True, slots=True)
class Obj:
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Arr:
    item: Obj


def _proxy() -> Obj:
    return Obj(
        {
            "http_mode": Int(), "http_host": Str(), "http_port": Int(), "http_auth_required": Bool(),
            "http_auth_type": Int(), "http_user_name": Str(min_len=1, max_len=64),
            "http_password": Str(min_len=1, max_len=32), "http_domain": Str(min_len=1, max_len=15),
            "https_port": Int(),
        }
    )  # fmt: skip


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_LOG_KINDS = ("system", "security", "traffic", "packet", "control")

MODEL = Obj(
    {
        "configuration": Obj(
            {
                "communication_settings": Obj(
                    {
                        "mode": Str(("PULL", "PUSH")),
                        "upload_op_state_heartbeat_freq_in_seconds": Int(),
                        "upload_log_heartbeat_freq_in_seconds": Int(),
                        "upload_cmd_state_heartbeat_freq_in_seconds": Int(),
                        "pull_mode_heartbeat_freq_in_seconds": Int(),
                        "sem_server": Obj({"name": Str(), "description": Str()}),
                        "app_upload": Bool(),
                        "connect_to_server": Bool(),
                        "download_profile": Bool(),
                        "randomization_frequency": Int(),
                        "randomization_range": Int(),
                        "randomization_enabled": Bool(),
                        "remember_current_group": Bool(),
                        "allow_client_upload_critical_event_immediately": Bool(),
                        "remember_current_policy_mode": Bool(),
                    }
                ),
                "general_settings": Obj(
                    {
                        "restart": Obj(
                            {
                                "enabled": Bool(),
                                "force": Bool(),
                                "force_when_logged_out": Bool(),
                                "endpoint_notification": Obj(
                                    {
                                        "enabled": Bool(),
                                        "endpoint_notification_message": Str(),
                                        "user_pause_TTL": Int(5, 60),
                                        "countdown": Int(1, 60),
                                        "user_pause_till_schedule": Free(),
                                    }
                                ),
                                "immediate": Free(),
                                "schedule": Obj(
                                    {
                                        "randomize_start_time": Bool(),
                                        "time_window": Int(),
                                        "time": Str(),
                                        **{day: Bool() for day in _DAYS},
                                    }
                                ),
                            }
                        ),
                        "security_settings": Obj(
                            {
                                "stopped_mode": Str(("ALLOW", "BLOCK", "ALLOW_STARTUP_ONLY")),
                                "secure_communications": Bool(),
                            }
                        ),
                        # The Swagger's enumeration really holds the quotes: '"ALLOW"', '"BLOCK"'.
                        "tamper_protection": Obj(
                            {"enabled": Bool(), "action": Str(('"ALLOW"', '"BLOCK"')), "log_action": Int()}
                        ),
                    }
                ),
                "password_protection": Obj(
                    {
                        "password": Str(min_len=6, max_len=256),
                        "user_interface": Bool(),
                        "service": Bool(),
                        "installation": Bool(),
                        "policy": Bool(),
                    }
                ),
                "client_log": Obj(
                    {
                        "max_upload": Int(1, 500),
                        **{
                            f"{kind}_{part}": (
                                Bool()
                                if part == "upload"
                                else Int(128 if kind == "packet" else 64, 9999)
                                if part == "maxsize"
                                else Int(1, 9999)
                            )
                            for kind in _LOG_KINDS
                            for part in ("upload", "maxsize", "TTL")
                        },
                        **{
                            f"{kind}_{part}": Int(0, 99999 if part == "damper_time" else 999999999)
                            for kind in ("security", "traffic", "noisy_traffic")
                            for part in ("damper_time", "idle_time")
                        },
                    }
                ),
                "live_update_content_settings": Obj({"description": Str()}),
                "external_communication_settings": Obj(
                    {
                        "lowbandwidth": Obj(
                            {
                                "enablelowbandwidth": Bool(),
                                "networkWeeklyBandwidthLimitKb": Int(),
                                "enablelowconnectivity": Bool(),
                                "enablelowconnectivityclient": Bool(),
                                "contentthresholds": Arr(Obj({"moniker": Str(), "minimumagedays": Str()})),
                            }
                        ),
                        "privatecloud": Obj(
                            {
                                "enableservers": Bool(),
                                "servertype": Str(),
                                "failover": Bool(),
                                "groups": Arr(
                                    Obj(
                                        {
                                            "serverCount": Int(),
                                            "servers": Arr(
                                                Obj(
                                                    {
                                                        "name": Str(),
                                                        "description": Str(),
                                                        "edr_connect_token": Str(),
                                                        "address": Str(),
                                                        "port": Int(),
                                                        "protocol": Str(),
                                                        "enable": Bool(),
                                                        "legacyclientsupport": Bool(),
                                                        "certificates": Arr(
                                                            Obj({"name": Str(), "content": Str()})
                                                        ),
                                                    }
                                                )
                                            ),
                                        }
                                    )
                                ),
                            }
                        ),
                        "proxy": _proxy(),
                        "mac_proxy": _proxy(),
                        "insight": Bool(),
                        "telemetry": Obj(
                            {
                                "enabled": Bool(),
                                "reputation": Bool(),
                                "process": Bool(),
                                "network": Bool(),
                                "config": Bool(),
                                "client_data": Bool(),
                            }
                        ),
                    }
                ),
            }
        ),
        "lockedoptions": Free(),
    }
)


def _proxy_values() -> dict[str, Any]:
    return {
        "http_mode": 0,
        "http_host": "",
        "http_port": 0,
        "http_auth_required": False,
        "http_auth_type": 0,
        "https_port": 0,
    }  # fmt: skip  (no proxy: the credentials are unset, so left out)


def initial_document(*, secure: bool, heartbeat_s: int) -> dict[str, Any]:
    """A plausible stored document (without ``sem_server``): what a SEPM 14.3 group shows out of the box."""
    log: dict[str, Any] = {"max_upload": 100}
    for kind in _LOG_KINDS:
        log.update(
            {f"{kind}_upload": kind in ("system", "security"), f"{kind}_maxsize": 512, f"{kind}_TTL": 14}
        )
    for kind in ("security", "traffic", "noisy_traffic"):
        log.update({f"{kind}_damper_time": 5, f"{kind}_idle_time": 30})
    return {
        "configuration": {
            "communication_settings": {
                "mode": "PUSH",
                "upload_op_state_heartbeat_freq_in_seconds": heartbeat_s,
                "upload_log_heartbeat_freq_in_seconds": heartbeat_s,
                "upload_cmd_state_heartbeat_freq_in_seconds": 60,
                "pull_mode_heartbeat_freq_in_seconds": heartbeat_s,
                "app_upload": True,
                "connect_to_server": True,
                "download_profile": True,
                "randomization_frequency": 1,
                "randomization_range": 300,
                "randomization_enabled": True,
                "remember_current_group": True,
                "allow_client_upload_critical_event_immediately": True,
                "remember_current_policy_mode": True,
            },
            "general_settings": {
                "restart": {
                    "enabled": True,
                    "force": False,
                    "force_when_logged_out": True,
                    "endpoint_notification": {
                        "enabled": True,
                        "endpoint_notification_message": "Your computer must restart to finish the update.",
                        "user_pause_TTL": 60,
                        "countdown": 5,
                        "user_pause_till_schedule": {},
                    },
                    "immediate": {},
                    "schedule": {
                        "randomize_start_time": True,
                        "time_window": 60,
                        "time": "02:00",
                        **dict.fromkeys(_DAYS, True),
                    },
                },
                "security_settings": {"stopped_mode": "BLOCK", "secure_communications": secure},
                "tamper_protection": {"enabled": True, "action": '"BLOCK"', "log_action": 1},
            },
            "password_protection": {
                "user_interface": False,
                "service": True,
                "installation": True,
                "policy": False,
            },
            "client_log": log,
            "live_update_content_settings": {"description": "LiveUpdate Content policy"},
            "external_communication_settings": {
                "lowbandwidth": {
                    "enablelowbandwidth": False,
                    "networkWeeklyBandwidthLimitKb": 0,
                    "enablelowconnectivity": False,
                    "enablelowconnectivityclient": False,
                    "contentthresholds": [],
                },
                "privatecloud": {
                    "enableservers": False,
                    "servertype": "INSIGHT",
                    "failover": True,
                    "groups": [],
                },
                "proxy": _proxy_values(),
                "mac_proxy": _proxy_values(),
                "insight": True,
                "telemetry": {
                    "enabled": True,
                    "reputation": True,
                    "process": True,
                    "network": True,
                    "config": True,
                    "client_data": True,
                },
            },
        },
        "lockedoptions": {},
    }


# --- validation and the two PATCH semantics ------------------------------------------------------------------------


def _type_name(spec: Any) -> str:
    return {Bool: "boolean", Int: "whole number", Str: "string", Arr: "list"}.get(type(spec), "JSON object")


def validate(value: Any, spec: Any = MODEL, where: str = "") -> None:
    """Raise :class:`SettingsError` unless ``value`` fits ``spec`` (undeclared fields, wrong types, enumerations)."""
    label = where or "the body"
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            raise SettingsError(f"{label} must be a JSON object")
        for key, sub in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in spec.fields:
                raise SettingsError(f"unrecognized field {path!r}")
            validate(sub, spec.fields[key], path)
    elif isinstance(spec, Free):
        if not isinstance(value, dict):
            raise SettingsError(f"{label} must be a JSON object")
    elif isinstance(spec, Arr):
        if not isinstance(value, list):
            raise SettingsError(f"{label} must be a list")
        for i, item in enumerate(value):
            validate(item, spec.item, f"{where}[{i}]")
    elif isinstance(spec, Bool):
        if not isinstance(value, bool):
            raise SettingsError(f"{label} must be a boolean")
    elif isinstance(spec, Int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{label} must be a whole number")
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            raise SettingsError(f"{label} must be from {spec.lo} to {spec.hi}")
    elif isinstance(spec, Str):
        if not isinstance(value, str):
            raise SettingsError(f"{label} must be a string")
        if spec.enum and value not in spec.enum:
            raise SettingsError(f"{label} must be one of {', '.join(spec.enum)}")
        if len(value) < spec.min_len or (spec.max_len is not None and len(value) > spec.max_len):
            raise SettingsError(f"{label} must be {spec.min_len} to {spec.max_len} characters long")


_UNSET = object()  # a string field with a minimum length and no value: left out of the document


def reset(spec: Any) -> Any:
    """What a field takes when a replacing PATCH omits it (see the module docstring)."""
    if isinstance(spec, Obj):
        values = {key: reset(sub) for key, sub in spec.fields.items()}
        return {key: value for key, value in values.items() if value is not _UNSET}
    if isinstance(spec, Bool):
        return spec.default
    if isinstance(spec, Int):
        return spec.lo or 0
    if isinstance(spec, Str):
        return spec.enum[0] if spec.enum else (_UNSET if spec.min_len else "")
    if isinstance(spec, Arr):
        return []
    return {}


def merge(stored: dict[str, Any], body: dict[str, Any], spec: Obj = MODEL) -> dict[str, Any]:
    """``stored`` with ``body`` deep-merged into it (a new document; ``body`` already validated)."""
    out = copy.deepcopy(stored)
    _merge_into(out, body, spec)
    return out


def _merge_into(target: dict[str, Any], body: dict[str, Any], spec: Obj) -> None:
    for key, value in body.items():
        sub = spec.fields[key]
        if isinstance(sub, Obj) and isinstance(target.get(key), dict):
            _merge_into(target[key], value, sub)
        elif isinstance(sub, Free) and isinstance(target.get(key), dict):
            target[key] = {**target[key], **value}
        else:
            target[key] = copy.deepcopy(value)


def replace(
    stored: dict[str, Any], body: dict[str, Any], spec: Obj = MODEL, *, keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``stored`` with every object named in ``body`` replaced (omitted fields reset); the root is not replaced.

    ``keep``: dotted paths of fields that are not part of this manager's model (left out of the result).
    """
    out = copy.deepcopy(stored)
    for key, value in body.items():
        out[key] = _replaced(value, spec.fields[key], key, keep)
    return out


def _replaced(value: Any, spec: Any, where: str, keep: frozenset[str]) -> Any:
    if not isinstance(spec, Obj):
        return copy.deepcopy(value)
    out = {
        key: _replaced(value[key], sub, f"{where}.{key}", keep) if key in value else reset(sub)
        for key, sub in spec.fields.items()
        if f"{where}.{key}" not in keep
    }
    return {key: v for key, v in out.items() if v is not _UNSET}
