"""Which peer the executor starts next: interface lanes and parked retries (pure).

No I/O and no clock: callers pass `now` in monotonic seconds. Due retries come first (they
waited already), then fresh peers in inventory order. A peer whose interface already has
`per_interface` attempts under way waits behind it and goes first once a lane frees.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

__all__ = ["Job", "JobQueue"]


@dataclass(slots=True)
class Job:
    """One peer through all its attempts (mutable: the executor updates it as it goes)."""

    peer_id: str
    vif_id: str
    attempts: int = 0
    refreshed: bool = False
    in_flight: bool = False
    ambiguous: bool = False  # an attempt may have been applied (timeout, reset, 5xx)
    finished: bool = False


class JobQueue:
    """Jobs waiting to start, by lane; see module docstring."""

    def __init__(self, per_interface: int) -> None:
        self.per_interface = per_interface
        self._ready: deque[Job] = deque()
        self._blocked: dict[str, deque[Job]] = {}  # vif -> jobs waiting for its lane
        self._parked: list[tuple[float, int, Job]] = []  # retries: (due, seq, job) heap
        self._seq = 0
        self._lanes: dict[str, int] = {}  # vif -> attempts under way (a dict: Counter is slow)
        self.active = 0  # lanes held, over all interfaces

    def __len__(self) -> int:
        """Jobs not started, in line or waiting for a lane or a retry."""
        return len(self._ready) + sum(map(len, self._blocked.values())) + len(self._parked)

    @property
    def waiting(self) -> bool:
        """True while jobs wait for a lane or a retry (more may become ready later)."""
        return bool(self._blocked or self._parked)

    def add(self, job: Job) -> None:
        """A fresh job at the end of the line."""
        self._ready.append(job)

    def put_back(self, job: Job) -> None:
        """A job `next` returned that may not start yet goes back to the front of the line."""
        self._ready.appendleft(job)

    def next(self, now: float) -> Job | None:
        """The next job whose lane is free (not yet claimed), or None."""
        skipped: list[tuple[float, int, Job]] = []
        found: Job | None = None
        while self._parked and self._parked[0][0] <= now:
            entry = heapq.heappop(self._parked)
            if self._lanes.get(entry[2].vif_id, 0) < self.per_interface:
                found = entry[2]
                break
            skipped.append(entry)
        for entry in skipped:
            heapq.heappush(self._parked, entry)
        if found is not None:
            return found
        while self._ready:
            job = self._ready.popleft()
            if self._lanes.get(job.vif_id, 0) < self.per_interface:
                return job
            self._blocked.setdefault(job.vif_id, deque()).append(job)
        return None

    def claim(self, job: Job) -> None:
        """The job starts an attempt: it holds a lane of its interface."""
        self._lanes[job.vif_id] = self._lanes.get(job.vif_id, 0) + 1
        self.active += 1

    def release(self, job: Job) -> None:
        """The attempt ended: free the lane; the interface's next waiting job goes first."""
        left = self._lanes[job.vif_id] - 1
        if left > 0:
            self._lanes[job.vif_id] = left
        else:
            del self._lanes[job.vif_id]
        self.active -= 1
        waiting = self._blocked.get(job.vif_id)
        if waiting:
            self._ready.appendleft(waiting.popleft())
            if not waiting:
                del self._blocked[job.vif_id]

    def park(self, job: Job, due: float) -> None:
        """Hold a job that backs off until `due`, without holding a worker."""
        self._seq += 1
        heapq.heappush(self._parked, (due, self._seq, job))

    def next_due(self, now: float) -> float | None:
        """Seconds until the earliest parked retry is due (None when none is parked)."""
        if not self._parked:
            return None
        return max(0.0, self._parked[0][0] - now)

    def drain(self) -> tuple[list[Job], list[Job]]:
        """Empty the queue: (parked retries by due time, jobs never started in line order)."""
        parked = [job for _due, _seq, job in sorted(self._parked)]
        rest = list(self._ready)
        for waiting in self._blocked.values():
            rest.extend(waiting)
        self._parked.clear()
        self._ready.clear()
        self._blocked.clear()
        return parked, rest
