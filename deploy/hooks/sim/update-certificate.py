#!/usr/bin/env python3
"""Step 4 hook for the SEPM simulator: install the new server certificate, restart the services, check the ports.

The simulator's stand-in for Admin > Servers > Manage Server Certificate > Update, then restarting semsrv,
semwebsrv and semapisrv. Use it as ``spec.rollout.actions.updateCertificate`` with a keystore in the spec::

    certificate:
      file: certs/sepm-east.crt
      keystore: {file: /run/secrets/sepm-east.p12, password: {env: SEPM_EAST_P12_PASSWORD}}
    rollout:
      actions:
        updateCertificate: {command: [python3, deploy/hooks/sim/update-certificate.py], timeout: 10m}

Environment (set by the reconciler; the password only ever travels here, never in arguments):

``SEPM_RECONCILER_KEYSTORE_FILE``        PKCS#12 (.p12/.pfx), Java keystore (.jks) or PEM certificate (+ key)
``SEPM_RECONCILER_KEYSTORE_KEY_FILE``    the PEM private key, when the keystore is a PEM certificate alone
``SEPM_RECONCILER_KEYSTORE_PASSWORD``    the keystore's password (PKCS#12, JKS, an encrypted PEM key)
``SEPM_RECONCILER_DESIRED_FINGERPRINT``  what every port must present afterwards
``SEPM_SIM_PORTS_FILE`` / ``SEPM_SIM_MANAGER``  which simulator (see ``_simadmin.py``)

Idempotent: when every port already presents the desired certificate it does nothing. It refuses (exit 1) a
keystore whose certificate is not the desired one, and fails when the ports do not present it after the restart.
Exit 0 done, 1 refused or failed, 2 misconfigured. The reconciler completes step 4 only on its own observation.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from _simadmin import SimAdmin, fail

desired = os.environ.get("SEPM_RECONCILER_DESIRED_FINGERPRINT", "")
keystore = os.environ.get("SEPM_RECONCILER_KEYSTORE_FILE")
password = os.environ.get("SEPM_RECONCILER_KEYSTORE_PASSWORD")
if not desired:
    fail("SEPM_RECONCILER_DESIRED_FINGERPRINT is not set: run this as the reconciler's step-4 hook", 2)
if not keystore:
    fail("no keystore: set spec.certificate.keystore.file (and its password) in the spec", 2)

admin = SimAdmin()
served = admin.state()["served"]
if served and all(fp == desired for fp in served.values()):
    print(f"{admin.name}: every port already presents {desired}: nothing to do")
    raise SystemExit(0)

path = Path(str(keystore))
try:
    data = path.read_bytes()
except OSError as exc:
    fail(f"cannot read the keystore {path}: {exc.strerror or exc}")
body: dict[str, Any]
suffix = path.suffix.lower()
if suffix in (".p12", ".pfx"):
    body = {"pkcs12_b64": base64.b64encode(data).decode(), "password": password or ""}
elif suffix == ".jks":
    body = {"jks_b64": base64.b64encode(data).decode(), "password": password or ""}
else:
    key_file = os.environ.get("SEPM_RECONCILER_KEYSTORE_KEY_FILE")
    key = Path(key_file).read_text(encoding="ascii") if key_file else data.decode("ascii")
    body = {"cert_pem": data.decode("ascii"), "key_pem": key}
    if password:
        body["password"] = password

_, staged = admin.call("POST", "/certificate", body)
if staged.get("staged") != desired:
    fail(
        f"{admin.name}: the keystore holds {staged.get('staged')}, not the desired {desired}: not restarting "
        "(the services keep presenting the current certificate)"
    )
print(f"{admin.name}: staged {desired} ({staged.get('subject')}); restarting semsrv, semwebsrv, semapisrv")
state = admin.restart_and_wait()
wrong = {port: fp for port, fp in state["served"].items() if fp != desired}
if wrong:
    fail(f"{admin.name}: after the restart these ports do not present {desired}: {wrong}")
print(f"{admin.name}: every port presents {desired}")
