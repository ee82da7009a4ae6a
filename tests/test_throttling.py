"""Adaptive throttling end to end: settle just under a server's limit, recover after a burst.

Measured from the audit log's timestamps (what an operator would see in `bulkdel report`),
with the real CLI against the simulator. `t0` is the first dispatch; the simulator's
`throttle_windows` are counted from the first DELETE it receives, which is the same moment.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkdel.errors import ConfigError
from bulkdel.simulator import THROTTLED_ERROR_CODE, Fleet, SimConfig, SimHandle, running_simulator

from .conftest import cli_env, read_jsonl, run_cli, simulator, write_ipv6_inventory

#: The server's limit in the half-rate test, and the client's rate in the recovery test.
LIMIT = 20


def _t(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()


def _run(sim: SimHandle, tmp_path: Path, rate: float) -> tuple[list[dict[str, Any]], int]:
    inv = tmp_path / "v6.txt"
    ids = write_ipv6_inventory(sim, inv)
    audit = tmp_path / "a.jsonl"
    engine = ["--rate", str(rate), "--burst", "1", "--concurrency", "8", "--max-attempts", "30"]
    args = ["run", str(inv), "--audit", str(audit), "--yes", "--log-format", "json", *engine]
    res = run_cli(args, cli_env(sim))
    assert res.code == 0, res.stderr
    return read_jsonl(audit), len(ids)


def _timeline(records: list[dict[str, Any]], event: str) -> list[tuple[float, dict[str, Any]]]:
    """(seconds since the first dispatch, record) for one event."""
    t0 = next(_t(r) for r in records if r["event"] == "dispatch")
    return [(_t(r) - t0, r) for r in records if r["event"] == event]


def _per_second(points: list[float]) -> str:
    counts: dict[int, int] = {}
    for p in points:
        counts[int(p)] = counts.get(int(p), 0) + 1
    return " ".join(f"{s}s:{n}" for s, n in sorted(counts.items()))


# --- the simulator's throttle windows ----------------------------------------------------------


async def test_simulator_throttle_windows_answer_429_while_open() -> None:
    """Inside a window every DELETE gets 429 APIGW.0308; before and after it they pass."""
    spec = [
        (
            f"00000000-0000-4000-8000-{i:012x}",
            [
                (f"10000000-0000-4000-8000-{i:012x}", "ipv4"),
                (f"20000000-0000-4000-8000-{i:012x}", "ipv6"),
            ],
        )
        for i in range(3)
    ]
    cfg = SimConfig(fleet=Fleet.from_spec(spec), throttle_windows=[(0.3, 0.6)], retry_after=2)
    async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        base = f"{sim.endpoint}/v3/{sim.project_id}/dcaas/vif-peers/"
        headers = {"X-Auth-Token": sim.token}

        async def delete(i: int) -> tuple[int, dict[str, Any], str | None]:
            async with session.delete(
                base + f"20000000-0000-4000-8000-{i:012x}", headers=headers
            ) as r:
                body = await r.json() if r.status != 204 else {}
                return r.status, body, r.headers.get("Retry-After")

        assert (await delete(0))[0] == 204  # the first DELETE starts the clock
        await asyncio.sleep(0.35)
        status, body, retry_after = await delete(1)
        assert (status, body["error_code"], retry_after) == (429, THROTTLED_ERROR_CODE, "2")
        await asyncio.sleep(0.3)
        assert (await delete(1))[0] == 204
        assert sim.stats()["throttled"] == 1


def test_simulator_rejects_backwards_throttle_windows() -> None:
    """A window that ends before it starts is a ConfigError."""
    with pytest.raises(ConfigError, match="throttle_windows"):
        SimConfig(throttle_windows=[(2.0, 1.0)])


# --- adaptive rate -----------------------------------------------------------------------------


def test_settles_under_a_server_limit_half_the_client_rate(tmp_path: Path) -> None:
    """--rate 2R against a limit R: after 2 s < 5% of answers are 429, deletions ≥ 0.9 R/s.

    The steady rate is measured from 2 s to the 95th-percentile deletion: a peer throttled
    late waits at least a second (the gateway counts per second), so the last few stragglers
    say nothing about the steady rate. The whole run after 2 s must still reach 0.8 R.
    """
    with simulator(interfaces=6 * LIMIT, seed=21, two_peer_ratio=1.0, rate_limit=LIMIT) as sim:
        records, n = _run(sim, tmp_path, 2 * LIMIT)
        responses = _timeline(records, "response")
        deleted = sorted(t for t, r in responses if r["status"] == 204)
        assert len(deleted) == n
        shape = "deletions per second: " + _per_second(deleted)
        late = [r for t, r in responses if t >= 2.0]
        throttled = sum(1 for r in late if r["status"] == 429)
        assert throttled / len(late) < 0.05, f"{throttled}/{len(late)} throttled; {shape}"
        t95 = deleted[int(0.95 * n) - 1]
        steady = sum(1 for t in deleted if 2.0 <= t <= t95) / (t95 - 2.0)
        assert steady >= 0.9 * LIMIT, f"{steady:.1f}/s from 2 s to the 95th percentile; {shape}"
        overall = sum(1 for t in deleted if t >= 2.0) / (deleted[-1] - 2.0)
        assert overall >= 0.8 * LIMIT, f"{overall:.1f}/s from 2 s to the end; {shape}"


def test_recovers_to_the_configured_rate_after_intermittent_throttling(tmp_path: Path) -> None:
    """A one-second 429 burst slows the run; within 3 s after it, the full rate is back."""
    start, end = 0.5, 1.5
    with simulator(
        interfaces=7 * LIMIT, seed=22, two_peer_ratio=1.0, throttle_windows=[(start, end)]
    ) as sim:
        records, _ = _run(sim, tmp_path, LIMIT)
        responses = _timeline(records, "response")
        throttled = [t for t, r in responses if r["status"] == 429]
        assert throttled, "the throttle window caught nothing: the test tested nothing"
        assert all(start - 0.2 <= t <= end + 0.5 for t in throttled), throttled
        dispatched = [t for t, _ in _timeline(records, "dispatch")]
        shape = "dispatches per second: " + _per_second(dispatched)
        window = [t for t in dispatched if end + 3.0 <= t < end + 5.0]
        assert len(window) >= 0.9 * LIMIT * 2.0, shape
        assert max(dispatched) > end + 5.0, "the run ended too soon to show the recovery"
