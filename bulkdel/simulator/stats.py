"""Counters the simulator keeps for tests and benchmarks (pure: callers pass the times)."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

#: Route misses kept in `SimStats.unrouted`.
MAX_UNROUTED = 100


class SlidingWindow:
    """Events in the last `window` seconds, and the most ever seen in one such window.

    A window is half-open, `(t - window, t]`. Times must not go backwards (monotonic clock).
    Amortised O(1) per event: each time enters and leaves the deque once.
    """

    __slots__ = ("_times", "peak", "window")

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._times: deque[float] = deque()
        self.peak = 0

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        times = self._times
        while times and times[0] <= cutoff:
            times.popleft()

    def count(self, now: float) -> int:
        """Events in `(now - window, now]`."""
        self._prune(now)
        return len(self._times)

    def add(self, now: float) -> int:
        """Record one event at `now`; returns the events in the window ending at `now`."""
        self._prune(now)
        self._times.append(now)
        n = len(self._times)
        self.peak = max(self.peak, n)
        return n


def peak_brute_force(times: list[float], window: float = 1.0) -> int:
    """Reference for `SlidingWindow.peak`: O(n²), for tests."""
    return max((sum(1 for u in times if t - window < u <= t) for t in times), default=0)


class SimStats:
    """Request counters, DELETE arrival peaks, in-flight peaks and the DELETE log."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._vif_in_flight: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Zero every counter and the log; in-flight requests keep counting from now."""
        self.requests_total = 0
        self.list_requests = 0
        self.show_requests = 0
        self.creates = 0
        self.deletes_received = 0
        self.deletes_applied = 0  # answered 204
        self.peers_removed = 0  # 204s plus `applied_500` faults
        self.throttled = 0
        self.by_status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.per_second: dict[int, int] = {}
        self.arrivals = SlidingWindow(1.0)
        self.peak_in_flight = self.in_flight
        self.peak_in_flight_per_vif = max(self._vif_in_flight.values(), default=0)
        self.log: list[dict[str, Any]] = []
        #: "METHOD /path" of requests no route matched (a client building a wrong URL).
        self.unrouted: list[str] = []

    def delete_started(self, mono: float, epoch: float, vif_id: str | None) -> None:
        """A DELETE arrived (before auth, throttling or faults)."""
        self.deletes_received += 1
        second = int(epoch)
        self.per_second[second] = self.per_second.get(second, 0) + 1
        self.arrivals.add(mono)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if vif_id is not None:
            n = self._vif_in_flight.get(vif_id, 0) + 1
            self._vif_in_flight[vif_id] = n
            self.peak_in_flight_per_vif = max(self.peak_in_flight_per_vif, n)

    def delete_finished(
        self,
        *,
        mono: float,
        peer_id: str,
        vif_id: str | None,
        status: int | None,
        applied: bool,
    ) -> None:
        """A DELETE was answered (`status` None: the connection was dropped)."""
        self.in_flight -= 1
        if vif_id is not None:
            n = self._vif_in_flight.get(vif_id, 1) - 1
            if n > 0:
                self._vif_in_flight[vif_id] = n
            else:
                self._vif_in_flight.pop(vif_id, None)
        self.by_status[str(status) if status is not None else "reset"] += 1
        if applied:
            self.peers_removed += 1
            if status == 204:
                self.deletes_applied += 1
        self.log.append(
            {"t": mono, "peer_id": peer_id, "vif_id": vif_id, "status": status, "applied": applied}
        )

    def route_missed(self, method: str, path: str) -> None:
        """A request matched no route; the first MAX_UNROUTED are kept for tests."""
        if len(self.unrouted) < MAX_UNROUTED:
            self.unrouted.append(f"{method} {path}"[:300])

    def snapshot(self) -> dict[str, Any]:
        """Every counter as a JSON-ready dict (the body of GET /__sim/stats)."""
        return {
            "requests_total": self.requests_total,
            "list_requests": self.list_requests,
            "show_requests": self.show_requests,
            "creates": self.creates,
            "deletes_received": self.deletes_received,
            "deletes_applied": self.deletes_applied,
            "peers_removed": self.peers_removed,
            "by_status": dict(sorted(self.by_status.items())),
            "throttled": self.throttled,
            "faults": dict(sorted(self.faults.items())),
            "per_second": [[s, n] for s, n in sorted(self.per_second.items())],
            "peak_sliding_second": self.arrivals.peak,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "peak_in_flight_per_vif": self.peak_in_flight_per_vif,
            "unrouted": list(self.unrouted),
        }
