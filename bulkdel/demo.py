"""`bulkdel simulate` and `bulkdel demo`: the simulator as a process, and the guided tour."""

from __future__ import annotations

import json
import os
import sys

import structlog

from bulkdel.commands import plan_command, report_command, run_command
from bulkdel.connect import ConnOptions
from bulkdel.runner import RunSettings

log = structlog.get_logger("bulkdel")


async def simulate_command(
    *,
    host: str,
    port: int,
    interfaces: int,
    seed: int,
    rate_limit: float | None,
    latency: float,
    jitter: float,
    fault_rate: float,
    fleet: str | None,
) -> None:
    """`bulkdel simulate`: serve until SIGINT/SIGTERM; one JSON line on stdout when ready."""
    from bulkdel.simulator import Fleet, SimConfig, serve

    loaded = None
    if fleet:
        with open(fleet, encoding="utf-8") as fh:  # noqa: ASYNC230 - start-up, before serving
            loaded = Fleet.from_listing(json.load(fh), source=fleet)
    config = SimConfig(
        interfaces=interfaces,
        seed=seed,
        rate_limit=None if rate_limit is None else int(rate_limit),
        latency_ms=latency,
        jitter_ms=jitter,
        fault_rate=fault_rate,
        fleet=loaded,
    ).with_signer()

    def ready(info: dict[str, str]) -> None:
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        log.info("simulate.listening", endpoint=info["endpoint"], project_id=info["project_id"])

    await serve(config, host, port, on_ready=ready, handle_signals=True)


def _sample_inventory() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "samples", "inventory.csv")
    return path if os.path.exists(path) else None


async def demo_command() -> int:
    """`bulkdel demo`: the sample inventory against an in-process simulator: plan, run, report."""
    import tempfile

    from bulkdel.simulator import SimConfig, running_simulator

    config = SimConfig(
        interfaces=20,
        seed=1,
        latency_ms=20,
        jitter_ms=20,
        fault_rate=0.1,
        rate_limit=30,
        fault_mix={"5xx": 1.0, "reset": 1.0},
    )
    async with running_simulator(config) as sim:
        os.environ["BULKDEL_TOKEN"] = sim.token  # the simulator's own, throwaway credential
        conn = ConnOptions(endpoint=sim.endpoint, project_id=sim.project_id, timeout_s=5.0)
        inventory = _sample_inventory()
        workdir = tempfile.mkdtemp(prefix="bulkdel-demo-")
        if inventory is None:
            inventory = os.path.join(workdir, "inventory.csv")
            with open(inventory, "w", encoding="utf-8") as fh:  # noqa: ASYNC230
                fh.write("vif_peer_id\n")
                for vif in sim.state.to_listing()["virtual_interfaces"]:
                    fh.writelines(p["id"] + "\n" for p in vif["vif_peers"])
        audit_path = os.path.join(workdir, "audit.jsonl")
        print(
            f"simulator at {sim.endpoint}, project {sim.project_id}\n"
            f"inventory {inventory}\n\n== plan =="
        )
        print(
            await plan_command(
                conn,
                inventory=inventory,
                out=None,
                fmt="table",
                keep="ipv4",
                state_file=None,
                skip_invalid=False,
            )
        )
        print("\n== run (rate 20/s, concurrency 8, 10% injected faults) ==", flush=True)
        settings = RunSettings(rate=20, concurrency=8, max_attempts=8)
        code = await run_command(
            conn,
            settings,
            None,
            inventory=inventory,
            plan_file=None,
            audit_path=audit_path,
            resume=False,
            skip_invalid=False,
            yes=True,
            state_file=None,
        )
        print("\n== report ==")
        print(report_command(audit_path, None, "table"))
        stats = sim.stats()
        print(
            f"\nsimulator saw {stats['deletes_received']} DELETEs, peak "
            f"{stats['peak_sliding_second']} in any sliding second (limit 20 + burst 1)\n"
            f"audit log: {audit_path}"
        )
    return code
