"""A faithful SEPM simulator: the embedded default of ``make demo`` and the test bed of everything else.

It imports nothing else from ``reconciler`` (an import-linter contract), so it cannot share the reconciler's
mistakes. See ``docs/simulator.md``. The public surface:

* :class:`Simulator` — ``async with Simulator(fleet) as sim:``; ``sim.ports_info()``, ``sim.admin_token``,
  ``sim.state()``, ``sim.world`` (direct access to the ground truth), ``await sim.restart_services(name)``.
* :func:`run_in_thread` — ``with run_in_thread(fleet) as sim:`` for synchronous code.
* :func:`load_fleet` / :class:`FleetConfig` — the fleet file (YAML path, mapping, or config).
* :func:`generate_certificate` — self-signed test certificates (RSA by default; ``key_type="ec"`` for refusals).
* :func:`example_fleet_path` — the packaged example fleet.
* :class:`FleetError`, :class:`CertificateRejected`, :class:`SimError`.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.sim.certs import generate_certificate
from reconciler.sim.errors import CertificateRejected, FleetError, SimError
from reconciler.sim.fleet import FleetConfig, load_fleet
from reconciler.sim.simulator import Simulator, run_in_thread

__all__ = [
    "CertificateRejected",
    "FleetConfig",
    "FleetError",
    "SimError",
    "Simulator",
    "example_fleet_path",
    "generate_certificate",
    "load_fleet",
    "run_in_thread",
]


def example_fleet_path() -> Path:
    """The packaged example fleet (two replicating managers, 2,000 clients each)."""
    return Path(__file__).parent / "fleets" / "example.yaml"
