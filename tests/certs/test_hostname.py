"""RFC 6125 matching of presented DNS identifiers."""

from __future__ import annotations

import pytest

from reconciler.certs._hostname import dns_name_matches


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        pytest.param("sepm.corp.example", "sepm.corp.example", True, id="exact"),
        pytest.param("SEPM.Corp.Example", "sepm.corp.example", True, id="case-insensitive"),
        pytest.param("sepm.corp.example.", "sepm.corp.example", True, id="trailing-dot"),
        pytest.param("*.corp.example", "sepm.corp.example", True, id="wildcard-one-label"),
        pytest.param("*.corp.example", "corp.example", False, id="wildcard-needs-a-label"),
        pytest.param("*.corp.example", "a.sepm.corp.example", False, id="wildcard-only-one-label"),
        pytest.param("*.example", "corp.example", False, id="wildcard-too-broad"),
        pytest.param("sepm*.corp.example", "sepm1.corp.example", False, id="partial-wildcard-refused"),
        pytest.param("sepm.*.example", "sepm.corp.example", False, id="wildcard-not-leftmost"),
        pytest.param("*", "localhost", False, id="bare-star"),
        pytest.param("", "sepm.corp.example", False, id="empty-pattern"),
        pytest.param("sepm.corp.example", "sepm.corp.example.evil", False, id="suffix-is-not-a-match"),
    ],
)
def test_dns_identifiers_match_per_rfc_6125(pattern: str, host: str, matches: bool) -> None:
    assert dns_name_matches(pattern, host) is matches
