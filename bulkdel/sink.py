"""The audit-writer task: the one owner of the audit file during a run.

Workers hand records over a memory stream; the writer drains whatever has queued up, writes it
in one system call, and wakes the workers that wait for their `dispatch` to be on disk.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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
        send: MemoryObjectSendStream[_Item]
        recv: MemoryObjectReceiveStream[_Item]
        send, recv = anyio.create_memory_object_stream[_Item](math.inf)
        self._send = send
        self._recv = recv
        self._queued = 0
        self._flushed = anyio.Event()

    def send(self, record: dict[str, Any]) -> None:
        """Queue a record; never blocks (the queue is unbounded, the writer is fast)."""
        self._send.send_nowait(record)
        self._queued += 1

    async def send_and_wait(self, record: dict[str, Any]) -> None:
        """Queue a record and return once it is written and flushed."""
        self._send.send_nowait(record)
        self._queued += 1
        mine = self._queued
        while self.written < mine:
            await self._flushed.wait()

    def close(self) -> None:
        """No more records; the writer drains the queue and returns."""
        self._send.close()

    async def run(self) -> None:
        """Write until closed, fsyncing on the policy's schedule."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._ticker)
            async with self._recv:
                async for record in self._recv:
                    batch = [record]
                    while True:
                        try:
                            batch.append(self._recv.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    self.writer.write_many(batch)
                    self.written += len(batch)
                    # One wake-up per batch for every worker waiting on its dispatch record.
                    flushed, self._flushed = self._flushed, anyio.Event()
                    flushed.set()
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
