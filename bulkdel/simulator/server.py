"""Starting and stopping the simulator: in a task, until cancelled, or in a background thread."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar

from aiohttp import web

from bulkdel.simulator.app import Simulator
from bulkdel.simulator.config import SimConfig
from bulkdel.simulator.fleet import Fleet

T = TypeVar("T")

#: How long in-flight requests (e.g. stalled DELETEs) may run on shutdown before cancellation.
SHUTDOWN_TIMEOUT_S = 0.25


class SimHandle:
    """A running simulator: where it listens, its credentials, its live model and counters."""

    def __init__(self, endpoint: str, simulator: Simulator, loop: asyncio.AbstractEventLoop):
        self.endpoint = endpoint
        self.simulator = simulator
        self._loop = loop

    def __repr__(self) -> str:
        return f"SimHandle(endpoint={self.endpoint!r}, project_id={self.project_id!r})"

    @property
    def config(self) -> SimConfig:
        """The settings it runs with (credentials filled in)."""
        return self.simulator.config

    @property
    def project_id(self) -> str:
        """The project in every DC path."""
        return self.simulator.project_id

    @property
    def token(self) -> str:
        """The static `X-Auth-Token` it accepts."""
        return self.config.token

    @property
    def ak(self) -> str:
        """Its access key."""
        return self.config.ak

    @property
    def sk(self) -> str:
        """Its secret key."""
        return self.config.sk

    @property
    def state(self) -> Fleet:
        """The live fleet (read it from the simulator's loop, or once requests are done)."""
        return self.simulator.fleet

    def ready_info(self) -> dict[str, str]:
        """What `bulkdel simulate` prints: endpoint, project_id, token, ak, sk."""
        return {
            "endpoint": self.endpoint,
            "project_id": self.project_id,
            "token": self.token,
            "ak": self.ak,
            "sk": self.sk,
        }

    def _on_loop(self, fn: Callable[[], T]) -> T:
        # Counters belong to the simulator's loop; another thread reads them through it.
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop or not self._loop.is_running():
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    def stats(self) -> dict[str, Any]:
        """The `/__sim/stats` document."""
        return self._on_loop(self.simulator.stats.snapshot)

    def log(self) -> list[dict[str, Any]]:
        """A copy of the DELETE log (`/__sim/log`)."""
        return self._on_loop(lambda: list(self.simulator.stats.log))

    def reset_stats(self) -> None:
        """Zero counters and log, as `POST /__sim/reset-stats`."""
        self._on_loop(self.simulator.stats.reset)


def _endpoint(address: Any) -> str:
    host, port = address[0], address[1]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SimHandle]:
    """Serve on `host:port` (0 = a free port) for the duration of the `async with`."""
    sim = Simulator(config or SimConfig())
    runner = web.AppRunner(
        sim.app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield SimHandle(_endpoint(runner.addresses[0]), sim, asyncio.get_running_loop())
    finally:
        await runner.cleanup()


async def serve(
    config: SimConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[dict[str, str]], None],
    handle_signals: bool = False,
) -> None:
    """Serve until cancelled; `on_ready` gets `SimHandle.ready_info()` once listening.

    With `handle_signals`, SIGINT and SIGTERM stop it and it returns normally (main thread only).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    async with running_simulator(config, host, port) as sim:
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        try:
            on_ready(sim.ready_info())
            await stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


@contextmanager
def run_in_thread(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    start_timeout_s: float = 10.0,
) -> Iterator[SimHandle]:
    """A simulator on its own event loop in a daemon thread, for sync tests and benchmarks."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        box["loop"] = asyncio.get_running_loop()
        async with running_simulator(config, host, port) as sim:
            box["sim"] = sim
            ready.set()
            await stop.wait()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller, not to threading.excepthook
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=target, name="bulkdel-simulator", daemon=True)
    thread.start()
    if not ready.wait(start_timeout_s):
        raise TimeoutError(f"the simulator did not start within {start_timeout_s} s")
    if "error" in box:
        raise RuntimeError("the simulator failed to start") from box["error"]
    try:
        yield box["sim"]
    finally:
        with suppress(RuntimeError):  # loop already closed
            box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(start_timeout_s)
