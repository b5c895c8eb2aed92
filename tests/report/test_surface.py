"""The public surface of the drift checks and of the report stays small and deliberate."""

from __future__ import annotations

import reconciler.core.drift as drift
import reconciler.report as report


def test_the_report_package_exports_exactly_its_public_api() -> None:
    assert set(report.__all__) == {
        "FORMATS",
        "JSON_SCHEMA",
        "SCHEMA_VERSION",
        "Report",
        "ServerReport",
        "collect",
        "render",
    }
    assert report.FORMATS == ("text", "json", "markdown", "html")
    assert report.JSON_SCHEMA.is_file()


def test_the_drift_package_exports_exactly_its_public_api() -> None:
    assert set(drift.__all__) == {
        "DEFAULT_CHAIN",
        "EXIT_BY_SEVERITY",
        "SEVERITY_ORDER",
        "Chain",
        "Check",
        "ClientsSeen",
        "DriftInput",
        "Finding",
        "PortSeen",
        "Reason",
        "Seen",
        "Severity",
        "drift_began",
        "evaluate",
        "exit_code",
        "worst",
    }
    assert all(hasattr(drift, name) for name in drift.__all__)
