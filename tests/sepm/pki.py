"""Kept for the tests that import it: the certificates of the tests' own TLS servers are :mod:`tests.support.pki`'s
(``Issued`` here is a certificate on disk: :class:`tests.support.pki.Leaf`)."""

from tests.support.pki import Leaf as Issued
from tests.support.pki import make_ca, make_leaf

__all__ = ["Issued", "make_ca", "make_leaf"]
