"""Tests for the simulator's throttling, latency and fault injection, over loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from bulkdel.simulator import THROTTLED_ERROR_CODE, SimConfig, running_simulator
from tests.test_simulator import Api, spec_fleet, v4, v6

# --- throttling --------------------------------------------------------------------------------


async def test_burst_above_rate_limit_gets_429_and_peak_counts_every_arrival() -> None:
    """20 concurrent DELETEs against rate_limit=5: 5 applied, 15 throttled with Retry-After."""
    cfg = SimConfig(fleet=spec_fleet(20), rate_limit=5)
    async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        start = time.monotonic()
        results = await asyncio.gather(*(api.delete(v6(i)) for i in range(20)))
        assert time.monotonic() - start < 0.9, "the burst must fit in one second"
        statuses = [r[0] for r in results]
        assert statuses.count(204) == 5
        assert statuses.count(429) == 15
        throttled = [r for r in results if r[0] == 429]
        assert all(r[1]["error_code"] == THROTTLED_ERROR_CODE for r in throttled)
        assert "limit:5,time:1 second" in throttled[0][1]["error_msg"]
        assert all(r[2]["Retry-After"] == "1" for r in throttled)
        assert sim.state.peer_count == 35
        stats = await api.stats()
        assert stats["throttled"] == 15
        assert stats["peak_sliding_second"] == 20
        assert sum(n for _, n in stats["per_second"]) == 20


async def test_rate_limit_admits_again_after_the_window() -> None:
    """Once a second has passed, DELETEs are admitted again; retry_after=None omits the header."""
    cfg = SimConfig(fleet=spec_fleet(3), rate_limit=1, retry_after=None)
    async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        assert (await api.delete(v6(0)))[0] == 204
        status, _, headers = await api.delete(v6(1))
        assert status == 429
        assert "Retry-After" not in headers
        await asyncio.sleep(1.05)
        assert (await api.delete(v6(1)))[0] == 204


# --- faults and latency ------------------------------------------------------------------------


def faulty(kind: str, **kw: Any) -> SimConfig:
    return SimConfig(fleet=spec_fleet(2), fault_rate=1.0, fault_mix={kind: 1.0}, **kw)


async def test_reset_fault_drops_the_connection_without_applying() -> None:
    """A `reset` fault is a connection error for an aiohttp client and deletes nothing."""
    async with running_simulator(faulty("reset")) as sim, aiohttp.ClientSession() as session:
        # aiohttp silently resends an idempotent request once after a disconnect; bulkdel's
        # client turns that off (one dispatch record per request on the wire), so do we.
        session._retry_connection = False
        with pytest.raises(aiohttp.ClientConnectionError):
            await Api(sim, session).delete(v6(0))
        assert sim.state.owner_of(v6(0)) is not None
        assert sim.log()[0]["status"] is None
        assert sim.stats()["by_status"] == {"reset": 1}


async def test_applied_500_fault_removes_the_peer() -> None:
    """An `applied_500` fault answers 500 yet the peer is gone (the classic ambiguous write)."""
    async with running_simulator(faulty("applied_500")) as sim, aiohttp.ClientSession() as session:
        status, body, _ = await Api(sim, session).delete(v6(0))
        assert status == 500
        assert body["error_code"] == "DC.0003"
        assert sim.state.owner_of(v6(0)) is None
        stats = sim.stats()
        assert (stats["deletes_applied"], stats["peers_removed"]) == (0, 1)


async def test_5xx_fault_is_503_and_not_applied() -> None:
    """A `5xx` fault answers 503 with an error body and leaves the peer in place."""
    async with running_simulator(faulty("5xx")) as sim, aiohttp.ClientSession() as session:
        status, body, _ = await Api(sim, session).delete(v6(0))
        assert (status, body["error_code"]) == (503, "DC.0003")
        assert sim.state.owner_of(v6(0)) is not None


async def test_stall_fault_outlasts_the_client_timeout() -> None:
    """A client with a shorter timeout gives up; the server still applies the DELETE later."""
    async with running_simulator(faulty("stall", stall_s=0.4)) as sim:
        timeout = aiohttp.ClientTimeout(total=0.1)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(asyncio.TimeoutError):
                await Api(sim, session).delete(v6(0))
        assert sim.state.owner_of(v6(0)) is not None
        await asyncio.sleep(0.45)
        assert sim.state.owner_of(v6(0)) is None
        assert sim.log()[0]["status"] == 204


async def test_short_stall_then_answers_normally() -> None:
    """After the stall the DELETE is applied and answered 204."""
    async with (
        running_simulator(faulty("stall", stall_s=0.2)) as sim,
        aiohttp.ClientSession() as session,
    ):
        start = time.monotonic()
        assert (await Api(sim, session).delete(v6(0)))[0] == 204
        assert time.monotonic() - start >= 0.2


async def test_faults_are_reproducible_for_a_seed() -> None:
    """The same seed and the same request order give the same fault sequence."""
    mix = {"5xx": 1.0, "applied_500": 1.0}

    async def run(seed: int) -> list[int]:
        cfg = SimConfig(fleet=spec_fleet(12), fault_rate=0.5, fault_mix=mix, seed=seed)
        async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
            api = Api(sim, session)
            return [(await api.delete(v6(i)))[0] for i in range(12)]

    first = await run(5)
    assert first == await run(5)
    assert set(first) == {204, 500, 503}
    assert first != await run(6)


async def test_latency_delays_deletes() -> None:
    """latency_ms holds every DELETE at least that long."""
    cfg = SimConfig(fleet=spec_fleet(1), latency_ms=150, jitter_ms=20)
    async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        start = time.monotonic()
        assert (await Api(sim, session).delete(v6(0)))[0] == 204
        assert time.monotonic() - start >= 0.15


async def test_in_flight_peaks_per_interface() -> None:
    """Concurrent DELETEs of one interface's peers show in peak_in_flight_per_vif."""
    cfg = SimConfig(fleet=spec_fleet(2), latency_ms=100)
    async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        results = await asyncio.gather(api.delete(v4(0)), api.delete(v6(0)), api.delete(v6(1)))
        stats = await api.stats()
        assert stats["peak_in_flight"] == 3
        assert stats["peak_in_flight_per_vif"] == 2
        assert sorted(r[0] for r in results) == [204, 204, 400]
        assert stats["in_flight"] == 0
