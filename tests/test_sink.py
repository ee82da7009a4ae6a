"""Tests for bulkdel.sink: the audit pump writes in order and releases dispatch waiters."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from bulkdel.clock import FakeClock
from bulkdel.sink import AuditPump


class ListWriter:
    """Collects write_many batches in memory."""

    background_sync = False

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def write_many(self, records: list[dict[str, Any]]) -> None:
        self.batches.append(list(records))

    def maybe_fsync(self) -> None:
        return None


async def test_send_and_wait_returns_only_after_its_record_is_written() -> None:
    """A dispatch waiter resumes once the writer has the record, with earlier ones before it."""
    writer = ListWriter()
    pump = AuditPump(writer, FakeClock())
    seen: list[int] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        pump.send({"n": 1})
        await pump.send_and_wait({"n": 2})
        seen = [r["n"] for batch in writer.batches for r in batch]
        pump.close()
    assert seen == [1, 2]


async def test_many_waiters_share_one_batch_and_close_drains_the_rest() -> None:
    """Records queued together are written in one batch; close() writes what is left."""
    writer = ListWriter()
    pump = AuditPump(writer, FakeClock())
    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(pump.send_and_wait, {"n": n})
        await anyio.wait_all_tasks_blocked()
        async with anyio.create_task_group() as inner:
            inner.start_soon(pump.run)
            await anyio.wait_all_tasks_blocked()
            pump.send({"n": 5})
            pump.close()
    assert [r["n"] for r in writer.batches[0]] == [0, 1, 2, 3, 4]
    assert [r["n"] for batch in writer.batches for r in batch] == list(range(6))
    assert pump.written == 6


async def test_sending_after_close_is_a_bug_not_a_lost_record() -> None:
    """A record sent after close() raises instead of vanishing."""
    pump = AuditPump(ListWriter(), FakeClock())
    pump.close()
    with pytest.raises(RuntimeError, match="after the pump was closed"):
        pump.send({"n": 1})
