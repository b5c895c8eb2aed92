"""Certificate facts: the fingerprint contract, and what a real TLS handshake presents."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest

from reconciler.certs import describe, fingerprint, load_certificates, served_certificate
from reconciler.errors import CertificateError
from tests.certs.fixtures import HOST, Pki


def test_the_fingerprint_is_sha256_of_the_der_as_openssl_computes_it(pki: Pki) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not on PATH: cannot cross-check the fingerprint")
    proc = subprocess.run(
        [openssl, "x509", "-in", str(pki.path("good.crt")), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    hex_digits = proc.stdout.strip().split("=", 1)[1].replace(":", "").lower()
    assert fingerprint(pki.good.cert) == f"sha256:{hex_digits}"
    assert len(hex_digits) == 64


def test_describe_reports_every_fact_in_utc(pki: Pki) -> None:
    facts = describe(pki.good.cert)
    assert facts.subject == f"CN={HOST}"
    assert facts.issuer == "CN=Test Root CA"
    assert facts.sans == (HOST,)
    assert facts.serial == f"{pki.good.cert.serial_number:x}"
    assert facts.not_before.tzinfo is UTC and facts.not_after.tzinfo is UTC
    assert (facts.key_type, facts.key_size, facts.curve) == ("RSA", 2048, None)
    assert facts.signature_hash == "sha256"
    assert (facts.is_ca, facts.self_signed) == (False, False)
    assert facts.to_json()["not_after"] == facts.not_after.isoformat()


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[int]:
    """A real TLS listener on 127.0.0.1 presenting good.crt with its CA; yields the port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.path("good-chain.pem"), pki.path("good.key"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()
    thread.join(timeout=10)


def test_served_certificate_reads_what_a_real_handshake_presents(tls_server: int, pki: Pki) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # we must see a certificate even when we would not trust it
    with (
        socket.create_connection(("127.0.0.1", tls_server), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    served = served_certificate(der)
    assert served.fingerprint == fingerprint(pki.good.cert)
    assert served.subject == f"CN={HOST}"
    assert served.sans == (HOST,)
    assert served.not_after == pki.good.cert.not_valid_after_utc


def test_served_certificate_rejects_bytes_that_are_not_a_certificate() -> None:
    with pytest.raises(
        CertificateError, match=r"^the server presented something that is not a DER certificate: "
    ):
        served_certificate(b"\x30\x03\x02\x01\x01")


def test_served_certificate_refuses_a_certificate_with_a_malformed_extension(pki: Pki) -> None:
    der = pki.path("bad-san.der").read_bytes()
    with pytest.raises(
        CertificateError, match=r"^the certificate has a malformed extension \(subject_alternative_name\)$"
    ):
        served_certificate(der)


def test_ip_and_dns_sans_keep_certificate_order(pki: Pki) -> None:
    facts = describe(load_certificates(Path(pki.path("ip-san.crt"))).leaf)
    assert facts.sans == ("192.0.2.10", "2001:db8::10")
