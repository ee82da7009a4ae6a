"""Shared fixtures: a simulator on loopback and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from bulkdel.simulator import SimConfig, SimHandle, run_in_thread

pytest_plugins = ["tests.chaos_plugin"]

# CI shares two cores with subprocesses and servers: judge examples, not generation speed.
settings.register_profile("bulkdel", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bulkdel")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@dataclass
class CliResult:
    """What one CLI invocation did."""

    code: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        """The JSON log events on stderr."""
        out = []
        for line in self.stderr.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


def cli_env(sim: SimHandle | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for the CLI: no ambient credentials, the simulator's token."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BULKDEL_", "OS_", "HUAWEICLOUD_"))
    }
    if sim is not None:
        env["BULKDEL_TOKEN"] = sim.token
        env["BULKDEL_ENDPOINT"] = sim.endpoint
        env["BULKDEL_PROJECT_ID"] = sim.project_id
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str], env: dict[str, str], *, stdin: bytes | None = None, timeout: float = 120
) -> CliResult:
    """Run `python -m bulkdel ARGS` and capture everything."""
    proc = subprocess.run(
        [sys.executable, "-m", "bulkdel", *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


#: Environment variables that carry credentials or endpoints (swapped by in-process CLI calls).
CREDENTIAL_PREFIXES = ("BULKDEL_", "OS_", "HUAWEICLOUD_")


def use_env(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Replace the credential and endpoint variables of this process with those in `env`."""
    for key in list(os.environ):
        if key.startswith(CREDENTIAL_PREFIXES):
            mp.delenv(key)
    for key, value in env.items():
        if key.startswith(CREDENTIAL_PREFIXES):
            mp.setenv(key, value)


def main_exit_code(args: list[str]) -> int:
    """Run bulkdel's CLI in this process (no interpreter start-up); its exit code."""
    from bulkdel.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of an audit log."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_ipv6_inventory(sim: SimHandle, path: Path) -> list[str]:
    """Write every IPv6 peer (deletable without touching protection) as a plain ID list."""
    ids = [
        p["id"]
        for v in sim.state.to_listing()["virtual_interfaces"]
        for p in v["vif_peers"]
        if p["address_family"] == "ipv6"
    ]
    path.write_text("".join(f"{p}\n" for p in ids))
    return ids


@contextmanager
def simulator(**config: Any) -> Iterator[SimHandle]:
    """A simulator in a background thread for the duration of the block."""
    with run_in_thread(SimConfig(**config)) as sim:
        yield sim


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    """The default simulator (20 interfaces, seed 1: the fleet the samples were made from)."""
    with simulator() as handle:
        yield handle
