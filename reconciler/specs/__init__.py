"""Loading specs from files: YAML with positions, located errors, Defaults merging, secret resolution.

The public API (used by the CLI, the engine and the daemon)::

    spec_set = load_specs(Path("specs"))          # never raises for bad input
    spec_set.valid, spec_set.errors, spec_set.issues, spec_set.revision
    for name, server in spec_set.servers.items():   # LoadedServer: .spec .source .line .base_dir .locate()
        desired_fingerprint(server)                 # CertificateError when the file is unusable
        resolve_secret(server.spec.spec.server.credentials.password, server.base_dir)   # SecretError
        check_certificates(server, now) + check_secrets(server)   # more located issues (validate uses them)
        new_certificate_trust(server, now)          # will the desired certificate be trusted on the API port?

See docs/spec.md for the format and the issue codes.
"""

from reconciler.certs import Severity
from reconciler.specs._checks import check_certificates, check_procedure, check_secrets, desired_fingerprint
from reconciler.specs._issues import Location, SpecIssue
from reconciler.specs._loader import load_specs
from reconciler.specs._model import LoadedServer, SpecSet
from reconciler.specs._secrets import resolve_secret
from reconciler.specs._trust import check_trust, new_certificate_trust

__all__ = [
    "LoadedServer",
    "Location",
    "Severity",
    "SpecIssue",
    "SpecSet",
    "check_certificates",
    "check_procedure",
    "check_secrets",
    "check_trust",
    "desired_fingerprint",
    "load_specs",
    "new_certificate_trust",
    "resolve_secret",
]
