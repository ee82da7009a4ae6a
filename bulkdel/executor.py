"""The executor: rate-limited, lane-limited concurrent deletes with retries (imperative shell).

One task group. A dispatcher waits on the concurrency slot, the interface lane and the rate
limiter *before* starting a worker, so the number of live tasks stays bounded. Workers own one
peer each through all its attempts; every attempt is announced by a `dispatch` record that is
written and flushed before the request leaves. Records flow to the single audit-writer task.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import structlog

from bulkdel import audit
from bulkdel.clock import Clock
from bulkdel.control import Control, exit_code_for, stop_text
from bulkdel.encoding import format_ts_ms
from bulkdel.jobqueue import Job, JobQueue
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
        self._reserved = 0  # jobs started and not final: each could still end `deleted`
        self._queue = JobQueue(settings.per_interface)
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
                self._queue.add(Job(d.peer_id, d.vif_id or ""))
        if len(self._queue):
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
                for _ in range(min(self.settings.concurrency, len(self._queue))):
                    work.start_soon(self._worker_loop)
            outer.cancel_scope.cancel()
        self._defer_rest()

    async def _worker_loop(self) -> None:
        while (job := await self._take()) is not None:
            await self._run_job(job)

    async def _take(self) -> Job | None:
        """The next job this worker may start now, or None when there is nothing more to do."""
        max_deletes = self.settings.max_deletes
        while not self.control.stopping:
            if max_deletes is not None and self._deleted >= max_deletes:
                self.control.request_stop(StopReason.MAX_DELETES)
                break
            job = self._queue.next(self.clock.monotonic())
            if job is None:
                if not self._queue.waiting:
                    return None  # the others finish what they hold; nothing is left to take
                await self._wait_change(self._next_due())
                continue
            fresh = job.attempts == 0
            if fresh and max_deletes is not None and self._deleted + self._reserved >= max_deletes:
                # Every started job could still end `deleted`: wait, so the count stays exact.
                self._queue.put_back(job)
                await self._wait_change(self._next_due())
                continue
            if fresh:
                self._reserved += 1
            self._queue.claim(job)
            return job
        return None

    def _park(self, job: Job, delay: float) -> None:
        """Hold a job that backs off, without holding a worker."""
        self._queue.park(job, self.clock.monotonic() + delay)

    def _next_due(self) -> float | None:
        """Seconds until the earliest parked retry is due (None when none is parked)."""
        return self._queue.next_due(self.clock.monotonic())

    def _release_lane(self, job: Job) -> None:
        self._queue.release(job)
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
                in_flight=self._queue.active,
            )
            with anyio.move_on_after(self.settings.drain_timeout_s):
                await self.control.cancel_event.wait()
        work.cancel()

    # -- one peer --------------------------------------------------------------------------------

    async def _run_job(self, job: Job) -> None:
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

    def _not_sent(self, job: Job) -> None:
        self._record(job, _NOT_SENT, Action.FAIL, None)

    def _record(self, job: Job, resp: ApiResponse, action: Action, delay: float | None) -> None:
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

    async def _handle(self, job: Job, resp: ApiResponse) -> float | None:
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

    def _final_stopped(self, job: Job) -> None:
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
        parked, rest = self._queue.drain()
        for job in parked:
            self._final_stopped(job)  # waiting for a retry when the run stopped
        for job in rest:
            self._final(
                job.peer_id,
                job.vif_id,
                Outcome.DEFERRED,
                f"{self._stop_text()} before this peer was dispatched",
                job.attempts,
            )
