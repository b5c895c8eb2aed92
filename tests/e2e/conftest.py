"""Fixtures of the end-to-end tests: certificates, the hook environment, and a rig around a running simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from reconciler.core.clock import FakeClock
from reconciler.sim import Simulator
from tests.e2e.kit import (
    P12_PASSWORD,
    P12_PASSWORD_ENV,
    SEPM_PASSWORD_ENV,
    SIM_START,
    Pki,
    Rig,
    open_rig_store,
)
from tests.support import sim as support_sim


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def hook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the reconciler (and so its hooks) runs with: secrets by reference, the ports file, the log."""
    values = {
        SEPM_PASSWORD_ENV: "admin-pass",
        P12_PASSWORD_ENV: P12_PASSWORD,
        "E2E_HOOK_LOG": str(tmp_path / "hooks.log"),
        "SEPM_SIM_PORTS_FILE": str(tmp_path / "ports.json"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


class RigFactory(Protocol):
    def __call__(
        self, fleet_config: dict[str, Any], *, lists: bool = True
    ) -> AbstractAsyncContextManager[Rig]: ...


@pytest.fixture
def make_rig(tmp_path: Path, hook_env: dict[str, str]) -> RigFactory:
    """``async with make_rig(fleet) as rig:`` — the simulator running, an empty spec directory and state; the HTTP
    copy of the management server list made on every site, as an operator does before a rollout (``lists=False``:
    not made)."""

    @asynccontextmanager
    async def start(fleet_config: dict[str, Any], *, lists: bool = True) -> AsyncIterator[Rig]:
        async with Simulator(fleet_config, ports_file=hook_env["SEPM_SIM_PORTS_FILE"]) as sim:
            if lists:
                support_sim.copy_http_lists(sim)
            with open_rig_store(tmp_path) as store:
                yield Rig(
                    sim=sim,
                    specs_dir=tmp_path / "specs",
                    store=store,
                    clock=FakeClock(SIM_START),
                    hook_log=Path(hook_env["E2E_HOOK_LOG"]),
                )

    return start
