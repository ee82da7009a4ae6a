"""bulkdel's engine without the network: what it costs per peer on top of the HTTP client.

`python -m benchmarks.engine_only --peers N [--loop asyncio|uvloop]` runs the real Executor,
audit pump and audit writer (`--fsync batch`, a scratch file) over N planned deletes with a
deleter that answers 204 after one trip through the event loop, and prints one JSON line:
peers, seconds, cpu_s, us_per_peer (CPU). Scenario 1 reports it beside the aiohttp loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.fixtures import KIND_V6, KIND_VIF, uid


async def run(peers: int, folder: Path) -> tuple[float, float]:
    """Execute `peers` deletes against the fake; returns (wall seconds, CPU seconds)."""
    import anyio

    from bulkdel.auditfile import AuditWriter, FsyncPolicy
    from bulkdel.clock import SystemClock
    from bulkdel.executor import ExecSettings, Executor
    from bulkdel.models import ApiResponse, Decision, Planned
    from bulkdel.ratelimit import RateLimiter
    from bulkdel.sink import AuditPump

    answer = ApiResponse(status=204, request_id=None, elapsed_ms=0.5)

    class Instant:
        """Answers 204 after yielding once, like a server with no latency."""

        can_refresh = False

        async def delete_vif_peer(self, peer_id: str) -> ApiResponse:
            await asyncio.sleep(0)
            return answer

        async def refresh_auth(self) -> None:
            return None

    decisions = [
        Decision(
            peer_id=uid(5, KIND_V6, n),
            vif_id=uid(5, KIND_VIF, n),
            planned=Planned.DELETE,
            reason="",
        )
        for n in range(peers)
    ]
    clock = SystemClock()
    writer = AuditWriter.open(folder / "audit.jsonl", fsync=FsyncPolicy.BATCH, clock=clock)
    pump = AuditPump(writer, clock)
    executor = Executor(
        run_id="20261203T000000Z-000000",
        deleter=Instant(),
        limiter=RateLimiter(None, 1, clock),
        clock=clock,
        sink=pump,
        settings=ExecSettings(concurrency=32),
    )
    wall, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        await executor.run(decisions)
        pump.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    writer.close()
    return wall, cpu


def measure(peers: int, loop: str) -> dict[str, Any]:
    """Best of three runs (the least disturbed by other work on the machine)."""
    best: tuple[float, float] | None = None
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="bulkdel-engine-") as tmp:
            if loop == "uvloop":
                import uvloop

                wall, cpu = uvloop.run(run(peers, Path(tmp)))
            else:
                wall, cpu = asyncio.run(run(peers, Path(tmp)))
        if best is None or cpu < best[1]:
            best = (wall, cpu)
    assert best is not None
    return {
        "peers": peers,
        "loop": loop,
        "seconds": best[0],
        "cpu_s": best[1],
        "us_per_peer": best[1] / peers * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the measurement as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_only")
    parser.add_argument("--peers", type=int, default=50_000)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.peers, args.loop)) + "\n")


if __name__ == "__main__":
    main()
