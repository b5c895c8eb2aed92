"""The example-certificate generator writes public certificates that pass validation, and keys only on request."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.certs import check_certificate, describe, load_certificates
from reconciler.certs.generate import main


def test_generate_writes_a_ca_and_one_valid_certificate_per_host_without_keys(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "sepm-a.corp.example", "192.0.2.7"]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["ca/corp-root.pem", "certs/192.0.2.7.crt", "certs/sepm-a.crt"]
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    ca = load_certificates(tmp_path / "ca" / "corp-root.pem").leaf
    leaf = load_certificates(tmp_path / "certs" / "sepm-a.crt").leaf
    assert leaf.issuer == ca.subject
    assert describe(leaf).sans == ("sepm-a.corp.example",)
    now = datetime.now(UTC)
    assert (
        check_certificate(leaf, now=now, host="sepm-a.corp.example", expiry_warning=timedelta(days=30)) == []
    )
    assert describe(leaf).not_after - now > timedelta(days=3640)
    assert describe(load_certificates(tmp_path / "certs" / "192.0.2.7.crt").leaf).sans == ("192.0.2.7",)


def test_generate_writes_private_keys_with_mode_0600_only_when_asked(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert main(["--out", str(tmp_path / "specs"), "--keys-dir", str(keys), "sepm-b.corp.example"]) == 0
    key_file = keys / "sepm-b.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
