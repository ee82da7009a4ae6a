"""Test doubles for the executor's seams: deleter, limiter, audit sink."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel

from bulkdel.models import ApiResponse

Script = Callable[[str, int], ApiResponse]


def ok(_peer: str, _attempt: int) -> ApiResponse:
    """Every DELETE succeeds."""
    return ApiResponse(status=204)


class FakeDeleter:
    """Answers from a script (peer, attempt) -> response; records concurrency."""

    def __init__(
        self,
        script: Script = ok,
        *,
        can_refresh: bool = False,
        owner: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.script = script
        self._can_refresh = can_refresh
        self.owner = owner or {}
        self.delay = delay
        self.calls: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.refreshes = 0
        self.in_flight = 0
        self.peak = 0
        self.per_vif: Counter[str] = Counter()
        self.peak_per_vif = 0

    @property
    def can_refresh(self) -> bool:
        return self._can_refresh

    async def delete_vif_peer(self, peer_id: str) -> ApiResponse:
        self.calls.append(peer_id)
        self.attempts[peer_id] += 1
        vif = self.owner.get(peer_id, "")
        self.in_flight += 1
        self.per_vif[vif] += 1
        self.peak = max(self.peak, self.in_flight)
        self.peak_per_vif = max(self.peak_per_vif, self.per_vif[vif])
        try:
            if self.delay:
                await anyio.sleep(self.delay)
            else:
                await anyio.lowlevel.checkpoint()
            return self.script(peer_id, self.attempts[peer_id])
        finally:
            self.in_flight -= 1
            self.per_vif[vif] -= 1

    async def refresh_auth(self) -> None:
        self.refreshes += 1


class FakeLimiter:
    """Grants at once; counts throttle and success signals."""

    def __init__(self) -> None:
        self.acquired = 0
        self.throttled = 0
        self.successes = 0

    async def acquire(self) -> None:
        self.acquired += 1

    def on_throttled(self) -> None:
        self.throttled += 1

    def on_success(self) -> None:
        self.successes += 1


class ListSink:
    """Keeps records in memory, in order."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def send(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    async def send_and_wait(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        await anyio.lowlevel.checkpoint()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == name]
