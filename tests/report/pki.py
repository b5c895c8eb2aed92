"""Kept for the tests that import it: the report tests' CA and leaves are :mod:`tests.support.pki`'s."""

from tests.support.pki import Leaf, Pki

__all__ = ["Leaf", "Pki"]
