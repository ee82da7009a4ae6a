"""The audit-writer task: the one owner of the audit file during a run.

Workers append records to a queue; the writer drains whatever has queued up, writes it
in one system call, and wakes the workers that wait for their `dispatch` to be on disk.
"""

from __future__ import annotations

from typing import Any, Protocol

import anyio

from bulkdel.clock import Clock

_Item = dict[str, Any]


class Writer(Protocol):
    """The file side (bulkdel.audit.AuditWriter)."""

    def write_many(self, records: list[dict[str, Any]]) -> None:
        """Write and flush records in order."""
        ...

    background_sync: bool

    def maybe_fsync(self) -> None:
        """fsync if the policy says it is due."""
        ...


class AuditPump:
    """Queue in, file out; see module docstring."""

    def __init__(self, writer: Writer, clock: Clock, *, tick_s: float = 1.0) -> None:
        self.writer = writer
        self.clock = clock
        self.tick_s = tick_s
        self.written = 0
        # A plain list and one event: a memory object stream cost a fifth of the engine's
        # per-peer time, and the writer takes everything queued at once anyway.
        self._queue: list[_Item] = []
        self._queued = 0
        self._closed = False
        self._work = anyio.Event()
        self._flushed = anyio.Event()

    def send(self, record: dict[str, Any]) -> None:
        """Queue a record; never blocks (the queue is unbounded, the writer is fast)."""
        if self._closed:
            raise RuntimeError("audit record sent after the pump was closed; this is a bug")
        self._queue.append(record)
        self._queued += 1
        if len(self._queue) == 1:
            # The first record since the writer took its batch wakes it; later ones ride along.
            self._work.set()

    async def send_and_wait(self, record: dict[str, Any]) -> None:
        """Queue a record and return once it is written and flushed."""
        self.send(record)
        mine = self._queued
        while self.written < mine:
            await self._flushed.wait()

    def close(self) -> None:
        """No more records; the writer drains the queue and returns."""
        self._closed = True
        self._work.set()

    async def run(self) -> None:
        """Write until closed, fsyncing on the policy's schedule."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._ticker)
            while True:
                await self._work.wait()
                self._work = anyio.Event()
                batch, self._queue = self._queue, []
                if batch:
                    self.writer.write_many(batch)
                    self.written += len(batch)
                    # One wake-up per batch for every worker waiting on its dispatch record.
                    flushed, self._flushed = self._flushed, anyio.Event()
                    flushed.set()
                if self._closed and not self._queue:
                    break
            tg.cancel_scope.cancel()

    async def _ticker(self) -> None:
        self.writer.background_sync = True
        try:
            while True:
                await anyio.sleep(self.tick_s)  # housekeeping runs on real time, even in tests
                # In a worker thread: a slow disk must not stall requests (or bunch them up).
                await anyio.to_thread.run_sync(self.writer.maybe_fsync)
        finally:
            self.writer.background_sync = False
