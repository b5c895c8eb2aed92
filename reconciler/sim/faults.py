"""Faults injected into one manager through ``POST /_sim/faults`` (a partial body updates only the keys it names).

=====================  ======================================================================================
``error_rate``         share (0–1) of vendor API requests answered ``500`` with a JSON error body
``latency_ms``         added to every vendor API request
``timeout_rate``       share (0–1) of vendor API requests that hang without an answer for ``hang_s`` seconds
``hang_s``             how long a hung request hangs (default 30 real seconds, longer than a client's timeout)
``throttle_burst``     the next N vendor API requests get ``429`` with ``Retry-After: retry_after_s``
``retry_after_s``      the ``Retry-After`` value (whole seconds, default 1)
``token_lifetime_s``   lifetime of tokens issued from now on (real seconds); ``null`` restores the default
``restart_fails``      ``"down"``: restarts leave the services down (ports refuse) until a restart without the
                       fault; ``"old_cert"``: services come back presenting the old certificate, the new one
                       stays staged; ``null``/``false``: restarts succeed
``close_after_post``   SEPM 14.3's quirk: after answering a POST, the server drops that connection the next
                       time the client reuses it (the client sees a closed connection, no response)
``hidden_domains``     names of domains the API credentials no longer see (an administrator's rights were
                       changed): ``GET domains`` leaves them out, and a listing that names one of them by id
                       answers an **empty** page (the most dangerous plausible answer: a smaller fleet)
=====================  ======================================================================================

``{"reset": true}`` clears every fault. Faults apply to ``/sepm/api/v1/...`` only, never to ``/_sim/...``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["Faults"]

_RESTART_FAILS = (None, "down", "old_cert")


@dataclass(slots=True)
class Faults:
    error_rate: float = 0.0
    latency_ms: int = 0
    timeout_rate: float = 0.0
    hang_s: float = 30.0
    throttle_burst: int = 0
    retry_after_s: int = 1
    token_lifetime_s: float | None = None
    restart_fails: str | None = None
    close_after_post: bool = False
    hidden_domains: list[str] = field(default_factory=list)

    def hides(self, domain: str) -> bool:
        return domain.casefold() in {d.casefold() for d in self.hidden_domains}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, body: Any) -> None:
        """Validate all of ``body`` first, then apply it. Raises :class:`ValueError` naming the bad key."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object of fault settings")
        known = {f.name for f in fields(self)}
        staged = Faults() if body.get("reset") is True else Faults(**asdict(self))
        for key, value in body.items():
            if key == "reset":
                if not isinstance(value, bool):
                    raise ValueError("reset must be true or false")
                continue
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known | {'reset'}))}")
            setattr(staged, key, _check(key, value))
        for f in fields(self):
            setattr(self, f.name, getattr(staged, f.name))


def _check(key: str, value: Any) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key in ("error_rate", "timeout_rate"):
        if not number or not 0 <= value <= 1:
            raise ValueError(f"{key} must be a share from 0 to 1")
        return float(value)
    if key in ("latency_ms", "throttle_burst", "retry_after_s"):
        if not number or value < 0 or int(value) != value:
            raise ValueError(f"{key} must be a whole number ≥ 0")
        return int(value)
    if key == "hang_s":
        if not number or not 0 < value <= 3600:
            raise ValueError("hang_s must be a number of seconds from 0 to 3600")
        return float(value)
    if key == "token_lifetime_s":
        if value is None:
            return None
        if not number or value <= 0:
            raise ValueError("token_lifetime_s must be a number of seconds > 0, or null for the default")
        return float(value)
    if key == "restart_fails":
        if value is False:
            return None
        if value is True:
            return "down"
        if value not in _RESTART_FAILS:
            raise ValueError('restart_fails must be "down", "old_cert", true (= "down"), false or null')
        return value
    if key == "close_after_post":
        if not isinstance(value, bool):
            raise ValueError("close_after_post must be true or false")
        return value
    if key == "hidden_domains":
        if not isinstance(value, list) or not all(isinstance(d, str) and d for d in value):
            raise ValueError("hidden_domains must be a list of domain names")
        return list(value)
    raise ValueError(f"unknown fault {key!r}")  # pragma: no cover - guarded by the caller
