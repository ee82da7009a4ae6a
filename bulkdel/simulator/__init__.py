"""The DC v3 simulator: a fleet model, an aiohttp app and helpers to run it.

Typical use::

    async with running_simulator(SimConfig(interfaces=50, seed=7)) as sim:
        ...  # sim.endpoint, sim.project_id, sim.token, sim.stats(), sim.state
"""

from __future__ import annotations

from bulkdel.simulator.app import (
    LAST_PEER_ERROR_CODE,
    NOT_FOUND_ERROR_CODE,
    THROTTLED_ERROR_CODE,
    Simulator,
)
from bulkdel.simulator.config import FaultKind, SignatureVerifier, SimConfig, derive_credentials
from bulkdel.simulator.fleet import DeleteResult, Fleet, generate_fleet
from bulkdel.simulator.server import SimHandle, run_in_thread, running_simulator, serve
from bulkdel.simulator.signing import signer_verifier

__all__ = [
    "LAST_PEER_ERROR_CODE",
    "NOT_FOUND_ERROR_CODE",
    "THROTTLED_ERROR_CODE",
    "DeleteResult",
    "FaultKind",
    "Fleet",
    "SignatureVerifier",
    "SimConfig",
    "SimHandle",
    "Simulator",
    "derive_credentials",
    "generate_fleet",
    "run_in_thread",
    "running_simulator",
    "serve",
    "signer_verifier",
]
