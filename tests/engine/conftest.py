"""The engine tests use the end-to-end rig (a real simulator, spec files, a SQLite state): its fixtures, shared."""

from tests.e2e.conftest import hook_env, make_rig, pki

__all__ = ["hook_env", "make_rig", "pki"]
