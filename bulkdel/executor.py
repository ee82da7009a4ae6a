"""The executor: rate-limited, lane-limited concurrent deletes with retries (imperative shell).

One task group. A dispatcher waits on the concurrency slot, the interface lane and the rate
limiter *before* starting a worker, so the number of live tasks stays bounded. Workers own one
peer each through all its attempts; every attempt is announced by a `dispatch` record that is
written and flushed before the request leaves. Records flow to the single audit-writer task.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import structlog

from bulkdel import audit
from bulkdel.clock import Clock
from bulkdel.control import Control, exit_code_for, stop_text
from bulkdel.encoding import format_ts_ms
from bulkdel.models import Action, ApiResponse, Decision, Outcome, Planned, StopReason
from bulkdel.policy import Backoff, RetryKind, classify, retry_delay
from bulkdel.seams import AuditSink, Deleter, Limiter, Progress

__all__ = ["Control", "ExecResult", "ExecSettings", "Executor", "exit_code_for"]

log = structlog.get_logger("bulkdel.executor")

#: Planned decisions that end without a request, and the outcome they are recorded with.
NO_REQUEST_OUTCOME = {
    Planned.GONE: Outcome.GONE,
    Planned.PROTECTED: Outcome.PROTECTED,
    Planned.INVALID: Outcome.INVALID,
    Planned.SKIPPED: Outcome.SKIPPED,
}


#: Transport errors raised before the request left (credential provider failures).
NOT_SENT = frozenset({"credentials_refused", "credentials_unavailable"})


@dataclass(frozen=True, slots=True)
class ExecSettings:
    """Knobs of one execution."""

    concurrency: int = 8
    per_interface: int = 1
    max_attempts: int = 6
    max_deletes: int | None = None
    dry_run: bool = False
    drain_timeout_s: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(slots=True)
class ExecResult:
    """What happened, for run_finished and the exit code."""

    counts: Counter[str]
    stop_reason: StopReason
    deletes_sent: int = 0


def _no_progress(outcome: Outcome) -> None:
    return None


@dataclass(slots=True)
class _Job:
    peer_id: str
    vif_id: str
    attempts: int = 0
    refreshed: bool = False
    in_flight: bool = False
    ambiguous: bool = False  # an attempt may have been applied (timeout, reset, 5xx)
    finished: bool = False


#: Synthetic responses for requests that never got an answer of their own.
_CANCELLED = ApiResponse(
    status=None,
    transport_error="cancelled",
    error_msg="request cancelled when the drain timeout ran out",
)
_NOT_SENT = ApiResponse(
    status=None,
    transport_error="not_sent",
    error_msg="not sent: the run stopped before this request left",
)


class Executor:
    """Runs the DELETE decisions of a plan; see module docstring."""

    def __init__(
        self,
        *,
        run_id: str,
        deleter: Deleter,
        limiter: Limiter,
        clock: Clock,
        sink: AuditSink,
        settings: ExecSettings,
        control: Control | None = None,
        rng: random.Random | None = None,
        progress: Progress = _no_progress,
    ) -> None:
        self.run_id = run_id
        self.deleter = deleter
        self.limiter = limiter
        self.clock = clock
        self.sink = sink
        self.settings = settings
        self.control = control or Control()
        self.rng = rng or random.Random()
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self.deletes_sent = 0
        self._deleted = 0
        self._active = 0  # jobs holding a lane (an attempt under way)
        self._reserved = 0  # jobs started and not final: each could still end `deleted`
        self._parked: list[tuple[float, int, _Job]] = []  # retries: (due, seq, job) heap
        self._seq = 0
        self._lanes: dict[str, int] = {}  # vif -> attempts under way (a dict: Counter is slow)
        self._blocked: dict[str, deque[_Job]] = {}
        self._ready: deque[_Job] = deque()
        self._changed = anyio.Event()
        self._waiters = 0  # workers inside _wait_change
        self._auth_failed = False
        self._ts_ms = -1
        self._ts_text = ""

    def _ts(self) -> str:
        # Three records per peer share a millisecond more often than not: format it once.
        ms = self.clock.wall_ms()
        if ms != self._ts_ms:
            self._ts_ms = ms
            self._ts_text = format_ts_ms(ms)
        return self._ts_text

    # -- public ----------------------------------------------------------------------------------

    async def run(self, decisions: Iterable[Decision]) -> ExecResult:
        """Record the no-request outcomes, then execute every planned DELETE."""
        for d in decisions:
            if d.planned is not Planned.DELETE:
                self._final(d.peer_id, d.vif_id, NO_REQUEST_OUTCOME[d.planned], d.reason, 0)
            elif self.settings.dry_run:
                self._final(d.peer_id, d.vif_id, Outcome.WOULD_DELETE, "dry run: no DELETE sent", 0)
            else:
                self._ready.append(_Job(d.peer_id, d.vif_id or ""))
        if self._ready:
            await self._execute()
        reason = self.control.stop_reason or StopReason.COMPLETED
        return ExecResult(counts=self.counts, stop_reason=reason, deletes_sent=self.deletes_sent)

    # -- dispatching -----------------------------------------------------------------------------

    async def _execute(self) -> None:
        # A fixed pool of `concurrency` workers: each takes the next job only once its lane,
        # the max-deletes budget and the rate limiter allow, so no task waits holding nothing.
        async with anyio.create_task_group() as outer:
            async with anyio.create_task_group() as work:
                outer.start_soon(self._watch_stop, work.cancel_scope)
                for _ in range(min(self.settings.concurrency, len(self._ready))):
                    work.start_soon(self._worker_loop)
            outer.cancel_scope.cancel()
        self._defer_rest()

    async def _worker_loop(self) -> None:
        while (job := await self._take()) is not None:
            await self._run_job(job)

    async def _take(self) -> _Job | None:
        """The next job this worker may start now, or None when there is nothing more to do."""
        max_deletes = self.settings.max_deletes
        while not self.control.stopping:
            if max_deletes is not None and self._deleted >= max_deletes:
                self.control.request_stop(StopReason.MAX_DELETES)
                break
            job = self._next_job()
            if job is None:
                if not self._blocked and not self._parked:
                    return None  # the others finish what they hold; nothing is left to take
                await self._wait_change(self._next_due())
                continue
            fresh = job.attempts == 0
            if fresh and max_deletes is not None and self._deleted + self._reserved >= max_deletes:
                # Every started job could still end `deleted`: wait, so the count stays exact.
                self._ready.appendleft(job)
                await self._wait_change(self._next_due())
                continue
            if fresh:
                self._reserved += 1
            self._lanes[job.vif_id] = self._lanes.get(job.vif_id, 0) + 1
            self._active += 1
            return job
        return None

    def _give_back(self, job: _Job) -> None:
        """Undo _take: the job goes back in line (finalised by _defer_rest if the run stops)."""
        if job.attempts:
            self._park(job, 0.0)
        else:
            self._ready.appendleft(job)
            self._reserved -= 1
        self._release_lane(job, requeue=False)

    def _park(self, job: _Job, delay: float) -> None:
        """Hold a job that backs off, without holding a worker."""
        self._seq += 1
        heapq.heappush(self._parked, (self.clock.monotonic() + delay, self._seq, job))

    def _next_due(self) -> float | None:
        """Seconds until the earliest parked retry is due (None when none is parked)."""
        if not self._parked:
            return None
        return max(0.0, self._parked[0][0] - self.clock.monotonic())

    def _next_job(self) -> _Job | None:
        # Due retries first (they were waiting already), then fresh jobs in inventory order.
        now = self.clock.monotonic()
        skipped: list[tuple[float, int, _Job]] = []
        found: _Job | None = None
        while self._parked and self._parked[0][0] <= now:
            entry = heapq.heappop(self._parked)
            if self._lanes.get(entry[2].vif_id, 0) < self.settings.per_interface:
                found = entry[2]
                break
            skipped.append(entry)
        for entry in skipped:
            heapq.heappush(self._parked, entry)
        if found is not None:
            return found
        while self._ready:
            job = self._ready.popleft()
            if self._lanes.get(job.vif_id, 0) < self.settings.per_interface:
                return job
            self._blocked.setdefault(job.vif_id, deque()).append(job)
        return None

    def _release_lane(self, job: _Job, *, requeue: bool = True) -> None:
        left = self._lanes[job.vif_id] - 1
        if left > 0:
            self._lanes[job.vif_id] = left
        else:
            del self._lanes[job.vif_id]
        self._active -= 1
        waiting = self._blocked.get(job.vif_id)
        if waiting and requeue:
            self._ready.appendleft(waiting.popleft())
            if not waiting:
                del self._blocked[job.vif_id]
        self._wake()

    def _wake(self, *, always: bool = False) -> None:
        if not (self._waiters or always):
            return  # nobody waits for a lane or the budget: skip making a new event
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def _wait_change(self, due_in: float | None) -> None:
        """Wait until a lane or the budget frees, or (if given) `due_in` clock seconds."""
        self._waiters += 1
        try:
            await self._wait_for(self._changed, due_in)
        finally:
            self._waiters -= 1

    async def _wait_for(self, changed: anyio.Event, due_in: float | None) -> None:
        if due_in is None:
            await changed.wait()
            return
        async with anyio.create_task_group() as tg:

            async def sleeper() -> None:
                await self.clock.sleep(due_in)
                tg.cancel_scope.cancel()

            async def waker() -> None:
                await changed.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(sleeper)
            tg.start_soon(waker)

    async def _watch_stop(self, work: anyio.CancelScope) -> None:
        await self.control.stop_event.wait()
        self._wake(always=True)  # workers waiting for a lane or budget look again and end
        if not self.control.cancel_event.is_set():
            log.info(
                "run.draining",
                drain_timeout_s=self.settings.drain_timeout_s,
                in_flight=self._active,
            )
            with anyio.move_on_after(self.settings.drain_timeout_s):
                await self.control.cancel_event.wait()
        work.cancel()

    # -- one peer --------------------------------------------------------------------------------

    async def _run_job(self, job: _Job) -> None:
        """One attempt for one peer; a retry is parked so the worker can take other work."""
        parked = False
        unsent = False  # a dispatch record is written but the request has not left
        try:
            job.attempts += 1
            unsent = True
            await self.sink.send_and_wait(
                audit.dispatch(
                    self.run_id,
                    self._ts(),
                    peer_id=job.peer_id,
                    vif_id=job.vif_id,
                    attempt=job.attempts,
                )
            )
            # The rate slot is taken after the flush, right before sending, so disk latency
            # cannot bunch requests up on the wire (the server counts arrivals, not grants).
            await self.limiter.acquire()
            if self.control.stopping:
                # The stop arrived after the dispatch record was written: keep the promise
                # that no DELETE leaves after a stop, and say so in the log.
                return
            unsent = False
            job.in_flight = True
            self.deletes_sent += 1
            resp = await self.deleter.delete_vif_peer(job.peer_id)
            job.in_flight = False
            delay = await self._handle(job, resp)
            if delay is not None:
                self._park(job, delay)
                parked = True
        except anyio.get_cancelled_exc_class():
            if job.in_flight:
                job.ambiguous = True
                self._record(job, _CANCELLED, Action.FAIL, None)
            raise
        finally:
            if unsent and job.attempts:
                self._not_sent(job)
            if not parked:
                if not job.finished:
                    self._final_stopped(job)
                self._reserved -= 1
            self._release_lane(job)

    def _not_sent(self, job: _Job) -> None:
        self._record(job, _NOT_SENT, Action.FAIL, None)

    def _record(self, job: _Job, resp: ApiResponse, action: Action, delay: float | None) -> None:
        self.sink.send(
            audit.response(
                self.run_id,
                self._ts(),
                peer_id=job.peer_id,
                vif_id=job.vif_id,
                attempt=job.attempts,
                status=resp.status,
                error_code=resp.error_code or resp.transport_error,
                error_msg=resp.error_msg,
                request_id=resp.request_id,
                elapsed_ms=resp.elapsed_ms or None,  # 0.0 only on synthetic responses
                action=action,
                retry_in_s=None if delay is None else round(delay, 3),
            )
        )

    async def _handle(self, job: _Job, resp: ApiResponse) -> float | None:
        """Record the response; return the retry delay, or None when the peer is final."""
        verdict = classify(
            resp,
            attempt=job.attempts,
            max_attempts=self.settings.max_attempts,
            can_refresh=self.deleter.can_refresh,
            refreshed=job.refreshed,
        )
        delay: float | None = None
        if verdict.action is Action.RETRY:
            delay = retry_delay(
                self.settings.backoff,
                verdict.kind,
                job.attempts,
                self.rng.random(),
                resp.retry_after_s,
            )
        self._record(job, resp, verdict.action, delay)
        if resp.status == 429:
            self.limiter.on_throttled()
        elif resp.status is not None and resp.status < 500:
            self.limiter.on_success()
        if (resp.status is None and resp.transport_error not in NOT_SENT) or (
            resp.status is not None and resp.status >= 500
        ):
            job.ambiguous = True
        if verdict.action is Action.RETRY:
            if verdict.kind is RetryKind.AUTH_REFRESH:
                job.refreshed = True
                await self.deleter.refresh_auth()
            log.debug(
                "peer.retry",
                peer_id=job.peer_id,
                attempt=job.attempts,
                status=resp.status,
                error_code=resp.error_code,
                retry_in_s=delay,
            )
            return delay
        if verdict.action is Action.STOP:
            self._auth_failed = True
            self.control.request_stop(StopReason.AUTH_FAILED)
            log.error(
                "run.auth_failed",
                status=resp.status,
                error_code=resp.error_code,
                error_msg=resp.error_msg,
            )
            self._final(
                job.peer_id,
                job.vif_id,
                Outcome.DEFERRED,
                f"not deleted: the run stopped on {resp.status} {resp.error_code or ''}".rstrip()
                + "; fix the credentials or permission and resume",
                job.attempts,
            )
            job.finished = True
            return None
        outcome = verdict.outcome or Outcome.FAILED
        self._final(job.peer_id, job.vif_id, outcome, verdict.reason, job.attempts)
        job.finished = True
        return None

    # -- outcomes --------------------------------------------------------------------------------

    def _final(
        self, peer_id: str, vif_id: str | None, outcome: Outcome, reason: str, attempts: int
    ) -> None:
        self.sink.send(
            audit.final(
                self.run_id,
                self._ts(),
                peer_id=peer_id,
                vif_id=vif_id,
                outcome=outcome,
                reason=reason,
                attempts=attempts,
            )
        )
        self.counts[str(outcome)] += 1  # str() of a StrEnum: its value, cheaper than .value
        if outcome is Outcome.DELETED:
            self._deleted += 1
        self.progress(outcome)

    def _stop_text(self) -> str:
        return stop_text(self.control.stop_reason)

    def _final_stopped(self, job: _Job) -> None:
        """A started peer that the stop interrupted: unknown if a request may have landed."""
        job.finished = True
        if job.ambiguous:
            self._final(
                job.peer_id,
                job.vif_id,
                Outcome.UNKNOWN,
                f"{self._stop_text()} after attempt {job.attempts}, whose result is "
                "unknown; replay re-checks live state",
                job.attempts,
            )
        else:
            self._final(
                job.peer_id,
                job.vif_id,
                Outcome.DEFERRED,
                f"{self._stop_text()} before this peer was deleted",
                job.attempts,
            )

    def _defer_rest(self) -> None:
        for _due, _seq, job in sorted(self._parked):
            self._final_stopped(job)  # waiting for a retry when the run stopped
        self._parked.clear()
        rest = list(self._ready)
        for waiting in self._blocked.values():
            rest.extend(waiting)
        self._ready.clear()
        self._blocked.clear()
        for job in rest:
            self._final(
                job.peer_id,
                job.vif_id,
                Outcome.DEFERRED,
                f"{self._stop_text()} before this peer was dispatched",
                job.attempts,
            )
