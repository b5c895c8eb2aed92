"""Spec texts for the tests: a valid base whose line numbers are fixed, and a writer."""

from __future__ import annotations

from pathlib import Path

FINGERPRINT = "sha256:" + "ab" * 32

# Line numbers matter: the tests assert exact locations. Replacements keep one line per line.
BASE = f"""\
apiVersion: sepm-reconciler/v1
kind: ManagedServer
metadata:
  name: sepm-east-01
spec:
  server:
    apiUrl: https://sepm-east-01.corp.example:8446/sepm/api/v1
    site: Site East
    credentials:
      username: {{env: SEPM_USER}}
      password: {{env: SEPM_PASSWORD}}
  certificate:
    fingerprint: {FINGERPRINT}
  rollout:
    clients:
      minAckRatio: 1.0
    approvals: [4]
    window: {{days: [sat, sun], start: "22:00", end: "04:00", timezone: Europe/Madrid}}
    actions:
      updateCertificate: {{command: [sh, -c, exit], timeout: 30m}}
    managementServerList: {{http: Default Management Server List (HTTP), original: Default Management Server List}}
"""


def spec(*replacements: tuple[str, str], name: str = "sepm-east-01", site: str = "Site East") -> str:
    """BASE with each ``(old, new)`` substring replaced (each ``old`` must occur)."""
    text = BASE.replace("sepm-east-01", name).replace("Site East", site)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root
