"""Stopping a run (drain or cancel), why it stopped, and the exit code it ends with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio

from bulkdel.models import Outcome, StopReason

_STOP_TEXT = {
    StopReason.WINDOW_CLOSED: "the cleanup window closed",
    StopReason.INTERRUPTED: "the run was interrupted",
    StopReason.MAX_DELETES: "--max-deletes was reached",
    StopReason.AUTH_FAILED: "authentication failed",
    StopReason.COMPLETED: "the run stopped",
}


def stop_text(reason: StopReason | None) -> str:
    """Why the run stopped, in words for an outcome's reason (pure)."""
    return _STOP_TEXT[reason or StopReason.INTERRUPTED]


@dataclass(slots=True)
class Control:
    """How the shell stops a run: a graceful stop (drain) or an immediate cancel."""

    stop_reason: StopReason | None = None
    stop_event: anyio.Event = field(default_factory=anyio.Event)
    cancel_event: anyio.Event = field(default_factory=anyio.Event)

    def request_stop(self, reason: StopReason) -> None:
        """Stop dispatching; in-flight requests get the drain timeout. First reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    def cancel_now(self) -> None:
        """Cancel in-flight requests at once (a second signal)."""
        self.stop_event.set()
        self.cancel_event.set()

    @property
    def stopping(self) -> bool:
        """Whether dispatching has been stopped."""
        return self.stop_event.is_set()


def exit_code_for(counts: Mapping[str, int], stop_reason: StopReason) -> int:
    """Exit code per DESIGN: 4 auth, then 1 failed/invalid, then 3 incomplete, else 0."""
    if stop_reason is StopReason.AUTH_FAILED:
        return 4
    if counts.get(Outcome.FAILED.value, 0) or counts.get(Outcome.INVALID.value, 0):
        return 1
    if counts.get(Outcome.DEFERRED.value, 0) or counts.get(Outcome.UNKNOWN.value, 0):
        return 3
    return 0
