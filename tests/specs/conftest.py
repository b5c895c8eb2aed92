from tests.certs.fixtures import java_keystores, pki  # noqa: F401 - pytest finds fixtures by name in conftest
