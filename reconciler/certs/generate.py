"""Generate the example certificates of ``specs/``: a private CA and one RSA server certificate per host.

Run from the repository root (this is how ``specs/certs/*.crt`` and ``specs/ca/corp-root.pem`` were made)::

    python -m reconciler.certs.generate --out specs \\
        sepm-east-01.corp.example sepm-west-01.corp.example sepm-dmz-01.corp.example

Only public certificates are written (safe to commit). ``--keys-dir DIR`` also writes each server's private key
(PEM, mode 0600) for local experiments; never commit those (``.gitignore`` refuses ``specs/certs/*.key``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["issue_server_certificate", "main", "make_ca"]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(now: datetime, days: int) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed RSA 3072 CA valid for ``days`` from ``now``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = _name("Corp Example Root CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_server_certificate(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    host: str,
    now: datetime,
    days: int,
    *,
    valid: tuple[datetime, datetime] | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An RSA 2048 TLS server certificate for ``host`` (DNS name or IP address, in the SAN), signed by the CA, valid
    from an hour before ``now`` for ``days`` — or exactly ``valid`` (not before, not after) when given."""
    not_before, not_after = valid or (now - timedelta(hours=1), now + timedelta(days=days))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    san = x509.IPAddress(ipaddress.ip_address(host)) if _is_ip(host) else x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.certs.generate", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "hosts",
        nargs="+",
        help="server host names (or IP addresses); certs/<first label>.crt is written per host",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("specs"), help="the specs directory (default: specs)"
    )
    parser.add_argument(
        "--days", type=int, default=3650, help="validity of the server certificates (default 3650)"
    )
    parser.add_argument(
        "--keys-dir", type=Path, help="also write the private keys here (mode 0600; never commit)"
    )
    args = parser.parse_args(argv)

    now = datetime.now(UTC).replace(microsecond=0)
    pem = serialization.Encoding.PEM
    ca_key, ca_cert = make_ca(now, args.days + 3650)
    _write(args.out / "ca" / "corp-root.pem", ca_cert.public_bytes(pem))
    sys.stdout.write(f"wrote {args.out / 'ca' / 'corp-root.pem'}\n")
    for host in args.hosts:
        key, cert = issue_server_certificate(ca_key, ca_cert, host, now, args.days)
        stem = host if _is_ip(host) else host.split(".")[0]
        _write(args.out / "certs" / f"{stem}.crt", cert.public_bytes(pem))
        sys.stdout.write(
            f"wrote {args.out / 'certs' / f'{stem}.crt'} ({host}, until {cert.not_valid_after_utc:%Y-%m-%d})\n"
        )
        if args.keys_dir is not None:
            key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            _write(args.keys_dir / f"{stem}.key", key_pem, 0o600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
