"""The certificate checks: one named finding per problem, with its severity and an exact message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.certs import (
    Finding,
    Severity,
    check_certificate,
    check_keystore,
    fingerprint,
    load_certificates,
    load_keystore,
)
from tests.certs.factory import NOW
from tests.certs.fixtures import HOST, P12_PASSWORD, Pki

EXPIRY_WARNING = timedelta(days=30)


def _check(path: Path, host: str | None = HOST, warning: timedelta = EXPIRY_WARNING) -> list[Finding]:
    return check_certificate(load_certificates(path).leaf, now=NOW, host=host, expiry_warning=warning)


def test_a_good_certificate_has_no_findings(pki: Pki) -> None:
    assert _check(pki.path("good.crt")) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "rsa1024.crt",
            Finding(
                "key-too-small",
                Severity.ERROR,
                "the certificate's key is RSA 1024 bits: SEPM requires at least 2048; reissue it with a larger key",
            ),
            id="rsa-1024",
        ),
        pytest.param(
            "ec.crt",
            Finding(
                "key-not-rsa",
                Severity.ERROR,
                "the certificate's key is EC (secp256r1, 256 bits): SEPM requires an RSA key of 2048 bits or more",
            ),
            id="ec-key",
        ),
        pytest.param(
            "expired.crt",
            Finding("cert-expired", Severity.ERROR, "the certificate expired on 2026-05-31 12:00 UTC"),
            id="expired",
        ),
        pytest.param(
            "future.crt",
            Finding(
                "cert-not-yet-valid",
                Severity.ERROR,
                "the certificate is not valid before 2026-06-03 12:00 UTC: clients would reject it until then",
            ),
            id="not-yet-valid",
        ),
        pytest.param(
            "expiring.crt",
            Finding(
                "cert-expires-soon",
                Severity.WARNING,
                "the certificate expires on 2026-06-11 12:00 UTC, in 10 days — within expiryWarning (30d): "
                "a rotation can take weeks, renew it first",
            ),
            id="expires-within-margin",
        ),
        pytest.param(
            "wrong-san.crt",
            Finding(
                "cert-host-mismatch",
                Severity.ERROR,
                f"the certificate does not cover {HOST}, the host of apiUrl (subjectAltName "
                "sepm-west-01.corp.example): the reconciler could not verify the API after step 4",
            ),
            id="wrong-san",
        ),
        pytest.param(
            "cn-only.crt",
            Finding(
                "cert-host-cn-only",
                Severity.WARNING,
                f"the certificate covers {HOST} only through its subject CN; TLS clients need a subjectAltName: "
                f"reissue it with DNS:{HOST}",
            ),
            id="cn-only",
        ),
        pytest.param(
            "ca-first.pem",
            Finding(
                "cert-is-ca",
                Severity.WARNING,
                "the first certificate (CN=Test Root CA) is a CA certificate: put the server's own certificate first",
            ),
            id="ca-certificate-first",
        ),
        pytest.param(
            "self-signed.crt",
            Finding(
                "cert-self-signed",
                Severity.INFO,
                "the certificate is self-signed (as SEPM's default one): clients trust it through the communication "
                "settings SEPM pushes, which is what steps 2 to 6 protect",
            ),
            id="self-signed",
        ),
    ],
)
def test_each_problem_is_one_named_finding(pki: Pki, name: str, expected: Finding) -> None:
    findings = [
        f for f in _check(pki.path(name)) if f.code != "cert-host-mismatch" or name == "wrong-san.crt"
    ]
    assert findings == [expected]


def test_a_sha1_signature_is_a_warning(sha1_certificate: Path) -> None:
    codes = {f.code: f for f in _check(sha1_certificate)}
    assert codes["cert-weak-signature"] == Finding(
        "cert-weak-signature",
        Severity.WARNING,
        "the certificate is signed with SHA1, which clients are dropping: reissue it with SHA-256",
    )


@pytest.mark.parametrize(
    ("name", "host", "codes"),
    [
        pytest.param("wildcard.crt", HOST, [], id="wildcard-covers-one-label"),
        pytest.param(
            "wildcard.crt", "a.b.corp.example", ["cert-host-mismatch"], id="wildcard-not-two-labels"
        ),
        pytest.param("ip-san.crt", "192.0.2.10", [], id="ipv4-san"),
        pytest.param("ip-san.crt", "2001:db8::10", [], id="ipv6-san"),
        pytest.param("ip-san.crt", "192.0.2.11", ["cert-host-mismatch"], id="other-ip"),
        pytest.param("good.crt", "192.0.2.10", ["cert-host-mismatch"], id="ip-host-needs-ip-san"),
        pytest.param("good.crt", None, [], id="no-host-no-check"),
    ],
)
def test_the_host_check_follows_rfc_6125(pki: Pki, name: str, host: str | None, codes: list[str]) -> None:
    assert [f.code for f in _check(pki.path(name), host=host)] == codes


def test_the_expiry_margin_is_configurable_and_zero_disables_it(pki: Pki) -> None:
    assert [f.code for f in _check(pki.path("expiring.crt"), warning=timedelta(days=9))] == []
    assert [f.code for f in _check(pki.path("expiring.crt"), warning=timedelta(0))] == []
    assert [f.code for f in _check(pki.path("good.crt"), warning=timedelta(days=400))] == [
        "cert-expires-soon"
    ]


def test_validity_boundaries_use_the_given_now(pki: Pki) -> None:
    cert = load_certificates(pki.path("expired.crt")).leaf
    just_before = cert.not_valid_after_utc - timedelta(seconds=1)
    assert [
        f.code for f in check_certificate(cert, now=just_before, host=HOST, expiry_warning=timedelta(0))
    ] == []
    at_expiry = cert.not_valid_after_utc
    assert [
        f.code for f in check_certificate(cert, now=at_expiry, host=HOST, expiry_warning=timedelta(0))
    ] == ["cert-expired"]


def test_a_keystore_holding_the_desired_certificate_and_its_key_passes(pki: Pki) -> None:
    contents = load_keystore(pki.path("good.p12"), P12_PASSWORD)
    assert check_keystore(contents, desired_fingerprint=fingerprint(pki.good.cert)) == []


def test_a_keystore_whose_key_does_not_match_its_certificate_is_an_error(pki: Pki) -> None:
    path = pki.path("mismatched.pem")
    findings = check_keystore(load_keystore(path, None), desired_fingerprint=fingerprint(pki.good.cert))
    assert findings == [
        Finding(
            "keystore-key-mismatch",
            Severity.ERROR,
            f"the private key in {path} does not belong to its certificate (CN={HOST}): SEPM would refuse the update",
        )
    ]


def test_a_keystore_holding_another_certificate_than_the_desired_one_is_an_error(pki: Pki) -> None:
    path = pki.path("other.p12")
    desired = fingerprint(pki.good.cert)
    findings = check_keystore(load_keystore(path, P12_PASSWORD), desired_fingerprint=desired)
    assert findings == [
        Finding(
            "keystore-not-desired",
            Severity.ERROR,
            f"{path} holds {fingerprint(pki.other.cert)} (CN={HOST}), not the desired certificate {desired}: "
            "step 4 would install the wrong certificate",
        )
    ]
