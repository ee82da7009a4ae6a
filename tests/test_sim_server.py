"""Tests for bulkdel.simulator.server: running it in a task, in a thread, until a signal."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest

from bulkdel.simulator import SimConfig, SimHandle, run_in_thread, serve
from tests.test_simulator import Api

# --- running it ---------------------------------------------------------------------------------


def test_secrets_stay_out_of_reprs() -> None:
    """Neither SimConfig nor SimHandle show the token, SK or password."""
    cfg = SimConfig()
    with run_in_thread(cfg) as sim:
        text = repr(cfg) + repr(sim)
    for secret in (cfg.token, cfg.sk, cfg.password):
        assert secret not in text


def test_run_in_thread_serves_sync_callers() -> None:
    """run_in_thread runs a simulator a synchronous caller can reach and read stats from."""

    async def probe(sim: SimHandle) -> int:
        async with aiohttp.ClientSession() as session:
            return (await Api(sim, session).delete(sim.state.peer_ids()[-1]))[0]

    with run_in_thread(SimConfig(interfaces=3, two_peer_ratio=1.0)) as sim:
        assert asyncio.run(probe(sim)) == 204
        assert sim.stats()["deletes_applied"] == 1


async def test_serve_reports_ready_and_stops_when_cancelled() -> None:
    """serve() calls on_ready with endpoint and credentials, serves, and stops on cancel."""
    ready: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(serve(SimConfig(), on_ready=ready.put_nowait))
    info = await asyncio.wait_for(ready.get(), 5)
    assert set(info) == {"endpoint", "project_id", "token", "ak", "sk"}
    url = f"{info['endpoint']}/v3/{info['project_id']}/dcaas/virtual-interfaces"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"X-Auth-Token": info["token"]}) as resp:
            assert resp.status == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url)


async def test_serve_returns_on_sigterm_when_handling_signals() -> None:
    """With handle_signals, SIGTERM makes serve() return normally."""
    ready: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(serve(SimConfig(), on_ready=ready.put_nowait, handle_signals=True))
    await asyncio.wait_for(ready.get(), 5)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 5)
    assert task.done()
    assert not task.cancelled()
