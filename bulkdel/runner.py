"""One run, end to end: plan against live state, confirm, wait for the window, execute, audit.

This is the library function behind `bulkdel run` and `bulkdel replay`; the CLI only parses
options, renders and maps errors to exit codes.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import anyio
import structlog

from bulkdel import __version__, audit
from bulkdel.clock import Clock, SystemClock
from bulkdel.errors import UsageError
from bulkdel.executor import Control, ExecSettings, Executor, exit_code_for
from bulkdel.gcpause import gc_frozen
from bulkdel.models import (
    ApiResponse,
    Decision,
    Inventory,
    Keep,
    LiveState,
    Outcome,
    Plan,
    Planned,
    StopReason,
)
from bulkdel.planner import plan as make_plan
from bulkdel.policy import Backoff
from bulkdel.ratelimit import RateLimiter
from bulkdel.sink import AuditPump
from bulkdel.state import fetch_state
from bulkdel.window import Bounds, WindowSpec, compute_bounds

log = structlog.get_logger("bulkdel.run")


class Client(Protocol):
    """What a run needs from the API client (bulkdel.client.DcClient)."""

    @property
    def can_refresh(self) -> bool:
        """Whether a 401 can be answered with a new credential."""
        ...

    async def delete_vif_peer(self, peer_id: str) -> ApiResponse:
        """One DELETE."""
        ...

    async def list_virtual_interfaces(
        self, *, limit: int = 2000, marker: str | None = None
    ) -> tuple[ApiResponse, dict[str, Any] | None]:
        """One page of interfaces."""
        ...

    async def refresh_auth(self) -> None:
        """A new credential."""
        ...


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Every knob of a run that the audit log records in `run_started.settings`."""

    rate: float | None = 10.0
    burst: int = 1
    concurrency: int = 8
    per_interface: int = 1
    max_attempts: int = 6
    max_deletes: int | None = None
    dry_run: bool = False
    drain_timeout_s: float = 30.0
    timeout_s: float = 30.0
    keep: Keep = Keep.IPV4
    fsync: str = "batch"

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be a positive number of requests per second")
        for name in ("burst", "concurrency", "per_interface", "max_attempts"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_deletes is not None and self.max_deletes < 0:
            raise UsageError("--max-deletes must be 0 or more")


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What to run and where."""

    audit_path: str
    project_id: str
    endpoint: str
    inventory: Inventory
    settings: RunSettings = field(default_factory=RunSettings)
    state: LiveState | None = None  # --state FILE; None = fetch live state
    resume: bool = False
    window: WindowSpec | None = None
    allowed_deletes: frozenset[str] | None = None  # --plan: only these may be deleted
    command: str = "run"
    extra_started: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The result the CLI renders."""

    run_id: str
    counts: Mapping[str, int]
    stop_reason: StopReason
    exit_code: int
    duration_s: float
    plan: Plan
    audit_path: str
    stale_lock: str | None = None


Confirm = Callable[[Plan], Awaitable[bool]]


def abs_source(source: str) -> str:
    """A file path made absolute (replay after a crash re-reads it); `-` and labels as they are."""
    if source == "-" or ":" in source.split("/", 1)[0]:
        return source
    return os.path.abspath(source)


def restrict(plan: Plan, allowed: frozenset[str]) -> Plan:
    """Drift can only remove deletions: a DELETE not in `allowed` becomes PROTECTED (pure)."""
    decisions = []
    for decision in plan.decisions:
        d = decision
        if d.planned is Planned.DELETE and d.peer_id not in allowed:
            d = Decision(
                peer_id=d.peer_id,
                planned=Planned.PROTECTED,
                vif_id=d.vif_id,
                reason="not a deletion in the confirmed plan; live state changed since, "
                "re-plan to delete it",
            )
        decisions.append(d)
    return Plan(decisions=tuple(decisions), notes=plan.notes, state_digest=plan.state_digest)


async def _plan(req: RunRequest, client: Client, clock: Clock, skip: Mapping[str, str]) -> Plan:
    state = req.state if req.state is not None else await fetch_state(client, clock)
    p = make_plan(req.inventory, state, keep=req.settings.keep, skip=skip)
    for note in p.notes:
        log.warning("plan.note", note=note)
    if req.allowed_deletes is not None:
        p = restrict(p, req.allowed_deletes)
    return p


def _resume_info(req: RunRequest) -> tuple[dict[str, str], list[str] | None]:
    from bulkdel.auditrows import fold_audit
    from bulkdel.fold import peers_to_skip

    try:
        state = fold_audit(req.audit_path)  # pauses the collector while it builds
    except FileNotFoundError:
        return {}, []
    return dict(peers_to_skip(state)), [r.run for r in state.runs]


async def execute_run(
    req: RunRequest,
    client: Client,
    *,
    clock: Clock | None = None,
    confirm: Confirm | None = None,
    control: Control | None = None,
    progress: Callable[[Outcome], None] | None = None,
    handle_signals: bool = False,
    rng: random.Random | None = None,
) -> RunSummary:
    """Plan, confirm, wait for the window, execute and audit one run."""
    clock = clock or SystemClock()
    control = control or Control()
    rng = rng or random.Random()
    writer = audit.AuditWriter.open(req.audit_path, fsync=audit.FsyncPolicy(req.settings.fsync))
    try:
        if writer.stale_lock_info:
            log.warning("audit.stale_lock", detail=writer.stale_lock_info)
        if writer.mode_warning:
            log.warning("audit.mode", detail=writer.mode_warning)
        async with anyio.create_task_group() as guard:
            if handle_signals:
                guard.start_soon(_watch_signals, control)
            summary = await _locked_run(req, client, writer, clock, confirm, control, progress, rng)
            guard.cancel_scope.cancel()
        return summary
    finally:
        writer.close()
        structlog.contextvars.unbind_contextvars("run")


async def _locked_run(
    req: RunRequest,
    client: Client,
    writer: audit.AuditWriter,
    clock: Clock,
    confirm: Confirm | None,
    control: Control,
    progress: Callable[[Outcome], None] | None,
    rng: random.Random,
) -> RunSummary:
    s = req.settings
    invoked = clock.wall()
    skip: dict[str, str] = {}
    resumed_from: list[str] | None = None
    if req.resume:
        skip, resumed_from = _resume_info(req)
    plan = await _plan(req, client, clock, skip)
    if confirm is not None and not s.dry_run and not await confirm(plan):
        raise UsageError("not confirmed; nothing was sent")
    run_id = audit.new_run_id(invoked, rng)
    structlog.contextvars.bind_contextvars(run=run_id)
    if req.window is not None:
        plan = await _wait_for_window(req, client, clock, control, skip, plan)
    # The run starts when dispatching may begin: --max-duration and duration_s count from here.
    started_mono = clock.monotonic()
    started_wall = clock.wall()
    pump = AuditPump(writer, clock)
    settings_doc: dict[str, Any] = asdict(s)
    settings_doc["keep"] = s.keep.value
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump.run)
        pump.send(
            audit.run_started(
                run_id,
                audit.format_ts(clock.wall()),
                version=__version__,
                project_id=req.project_id,
                endpoint=req.endpoint,
                inventory=abs_source(req.inventory.source),
                inventory_sha256=req.inventory.sha256,
                settings=settings_doc,
                planned=plan.counts(),
                resumed_from=resumed_from,
                **dict(req.extra_started),
            )
        )
        log.info("run.started", planned=plan.counts(), audit=req.audit_path)
        with gc_frozen():
            result = await _execute(
                req, plan, client, clock, control, pump, run_id, rng, progress, started_wall
            )
        code = exit_code_for(result.counts, result.stop_reason)
        duration = round(clock.monotonic() - started_mono, 3)
        pump.send(
            audit.run_finished(
                run_id,
                audit.format_ts(clock.wall()),
                counts=dict(result.counts),
                duration_s=duration,
                exit_code=code,
                stop_reason=result.stop_reason,
            )
        )
        pump.close()
    return RunSummary(
        run_id=run_id,
        counts=dict(result.counts),
        stop_reason=result.stop_reason,
        exit_code=code,
        duration_s=duration,
        plan=plan,
        audit_path=req.audit_path,
        stale_lock=writer.stale_lock_info,
    )


async def _execute(
    req: RunRequest,
    plan: Plan,
    client: Client,
    clock: Clock,
    control: Control,
    pump: AuditPump,
    run_id: str,
    rng: random.Random,
    progress: Callable[[Outcome], None] | None,
    started_wall: datetime,
) -> Any:
    s = req.settings
    limiter = RateLimiter(s.rate, s.burst, clock)
    executor = Executor(
        run_id=run_id,
        deleter=client,
        limiter=limiter,
        clock=clock,
        sink=pump,
        settings=ExecSettings(
            concurrency=s.concurrency,
            per_interface=s.per_interface,
            max_attempts=s.max_attempts,
            max_deletes=s.max_deletes,
            dry_run=s.dry_run,
            drain_timeout_s=s.drain_timeout_s,
            backoff=Backoff(),
        ),
        control=control,
        rng=rng,
        progress=progress or (lambda _o: None),
    )
    async with anyio.create_task_group() as tg:
        if req.window is not None:
            bounds = compute_bounds(req.window, clock.wall(), started_wall)
            if bounds.closed:
                # Decided before the first dispatch, so no DELETE can slip out.
                log.warning("window.closed", detail=bounds.message)
                control.request_stop(StopReason.WINDOW_CLOSED)
            tg.start_soon(_watch_deadline, bounds, clock, control)
        tg.start_soon(_log_progress, executor, clock)
        result = await executor.run(plan.decisions)
        tg.cancel_scope.cancel()
    return result


async def _wait_for_window(
    req: RunRequest,
    client: Client,
    clock: Clock,
    control: Control,
    skip: Mapping[str, str],
    plan: Plan,
) -> Plan:
    assert req.window is not None
    # --max-duration counts from the start of dispatching, so it does not bound the wait.
    bounds = compute_bounds(replace(req.window, max_duration_s=None), clock.wall())
    if bounds.wait_s <= 0:
        return plan
    log.info("window.waiting", until=bounds.start.isoformat(), wait_s=round(bounds.wait_s, 1))
    with anyio.move_on_after(bounds.wait_s):
        await control.stop_event.wait()
    if control.stopping:
        return plan
    # Live state may have changed while we waited: re-plan, but never add a deletion.
    allowed = frozenset(d.peer_id for d in plan.decisions if d.planned is Planned.DELETE)
    fresh = await _plan(req, client, clock, skip)
    return restrict(fresh, allowed)


async def _watch_deadline(bounds: Bounds, clock: Clock, control: Control) -> None:
    if bounds.closed or bounds.end is None:
        return
    remaining = (bounds.end - clock.wall()).total_seconds()
    await clock.sleep(max(0.0, remaining))
    log.warning("window.closed", reason=bounds.reason_at_end)
    control.request_stop(StopReason.WINDOW_CLOSED)


async def _watch_signals(control: Control) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if not control.stopping:
                log.warning(
                    "run.interrupted",
                    signal=signal.Signals(signum).name,
                    hint="draining in-flight requests; send the signal again to cancel",
                )
                control.request_stop(StopReason.INTERRUPTED)
            else:
                log.warning("run.cancelled", signal=signal.Signals(signum).name)
                control.cancel_now()


async def _log_progress(executor: Executor, clock: Clock, every_s: float = 10.0) -> None:
    while True:
        await anyio.sleep(every_s)
        log.info("run.progress", **dict(executor.counts), sent=executor.deletes_sent)
