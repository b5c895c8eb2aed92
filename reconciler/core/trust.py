"""Whether the reconciler will trust the desired certificate on the API port once it is served — established from the
spec's files by :mod:`reconciler.specs` (no network), judged by the procedure before the point of no return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["NewCertificateTrust"]


@dataclass(frozen=True, slots=True)
class NewCertificateTrust:
    """What is known of the desired certificate's trust for the host of ``apiUrl``.

    * ``anchors`` — where trust comes from: ``"caBundle /etc/sepm/ca.pem"`` or the system trust store;
    * ``problem`` — why its chain does not verify for ``host`` against them now (or why it cannot be checked), None
      when it does;
    * ``issuer`` — the desired certificate's issuer (RFC 4514), for the fix: the CA file to add;
    * ``not_before`` / ``not_after`` — its validity: it must hold at the planned swap too.
    """

    host: str
    anchors: str
    problem: str | None = None
    issuer: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        """The certificate is within its validity at ``moment`` (unknown dates: not refused here)."""
        if self.not_before is not None and moment < self.not_before:
            return False
        return self.not_after is None or moment < self.not_after
