"""The executor's seams: what it needs from the API client, the limiter and the audit sink.

Tests pass fakes for each (tests/fakes.py); production passes DcClient, RateLimiter, AuditPump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bulkdel.models import ApiResponse, Outcome

#: Receives one call per final outcome (progress bar).
Progress = Callable[[Outcome], None]


class Deleter(Protocol):
    """What the executor needs from the API client."""

    @property
    def can_refresh(self) -> bool:
        """Whether a 401 can be answered with a new credential."""
        ...

    async def delete_vif_peer(self, peer_id: str) -> ApiResponse:
        """Send one DELETE; never raises for HTTP or transport failures."""
        ...

    async def refresh_auth(self) -> None:
        """Fetch a new credential."""
        ...


class Limiter(Protocol):
    """The run's rate limiter (bulkdel.ratelimit.RateLimiter)."""

    async def acquire(self) -> None:
        """Wait for the next request slot."""
        ...

    def on_throttled(self) -> None:
        """A 429 arrived: slow down."""
        ...

    def on_success(self) -> None:
        """A request succeeded: recover toward the configured rate."""
        ...


class AuditSink(Protocol):
    """Where records go; `written` resolves once the record is on disk (flushed)."""

    def send(self, record: dict[str, Any]) -> None:
        """Queue a record."""
        ...

    async def send_and_wait(self, record: dict[str, Any]) -> None:
        """Queue a record and wait until it is written and flushed."""
        ...
