from tests.certs.fixtures import java_keystores, pki, sha1_certificate  # noqa: F401 - pytest finds fixtures by name in conftest
