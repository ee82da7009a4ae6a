"""Fold an audit log into per-run summaries and per-peer state (pure; one pass, dicts).

Resume and replay read the log through this: which peers are done, which need another try,
and which were on the wire when a run crashed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from bulkdel.errors import AuditError
from bulkdel.gcpause import gc_paused
from bulkdel.models import Outcome, StopReason

#: `bulkdel replay` re-runs these by default (`--only`).
DEFAULT_REPLAY = frozenset({Outcome.FAILED, Outcome.DEFERRED, Outcome.UNKNOWN})
#: `--resume` skips peers whose latest final outcome is one of these.
DONE_OUTCOMES = frozenset({Outcome.DELETED, Outcome.GONE})
#: Finals that observe nothing new about a peer: they never replace an earlier final, so a
#: peer deleted in run 1 and `skipped` in run 2 is still "deleted in run 1" for run 3, and a
#: dry run after a failure leaves the failure to replay.
_PASSIVE = frozenset({Outcome.SKIPPED.value, Outcome.WOULD_DELETE.value})
_STOP_REASONS = frozenset(r.value for r in StopReason)


class LatestFinal(NamedTuple):
    """A peer's most telling `final` record."""

    outcome: Outcome
    reason: str | None
    run: str
    vif_id: str | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run as the log tells it; `finished` is None when it has no `run_finished` (crash)."""

    run: str
    started: str | None  # ts of run_started (None if that line was lost)
    finished: str | None
    stop_reason: StopReason | None
    exit_code: int | None
    counts: Mapping[str, int]  # from run_finished; empty if unfinished
    duration_s: float | None
    settings: Mapping[str, Any]
    project_id: str | None
    endpoint: str | None
    inventory: str | None
    resumed_from: tuple[str, ...] | None
    version: str | None = None
    planned: Mapping[str, int] = field(default_factory=dict)
    final_counts: Mapping[str, int] = field(default_factory=dict)  # counted from `final`s
    unfinished: int = 0  # peers dispatched in this run that got no `final` in it
    started_record: Mapping[str, Any] | None = None  # the whole run_started (extra fields)


@dataclass(frozen=True, slots=True)
class AuditState:
    """Everything resume, replay and report need to know about peers across runs.

    `latest_final` and `dispatched_unfinished` iterate in order of each peer's first
    appearance in the log; `peer_order` lists every peer seen in a dispatch or final.
    `dispatched_unfinished` holds peers whose latest event is a `dispatch` with no `final`
    after it (the run crashed while the request was, or may have been, on the wire).
    """

    runs: tuple[RunSummary, ...]
    latest_final: Mapping[str, LatestFinal]
    dispatched_unfinished: Mapping[str, str | None]
    peer_order: tuple[str, ...]


def fold(records: Iterable[Mapping[str, Any]]) -> AuditState:
    """Fold decoded records (any number of runs, in log order) into an AuditState."""
    return fold_rows(rows_of(records))


#: What the fold reads of one record, flat (`bulkdel.auditrows` reads a log straight into
#: these): (run, "dispatch" or "", "final" or "", peer_id, vif_id, "null" when vif_id is
#: None (then vif_id is ignored) else "", outcome, reason, the whole record for any other
#: event else ""). A row with neither "dispatch", "final" nor a record (a `response`) is
#: skipped.
Row = tuple[Any, str, str, Any, Any, str, Any, Any, Any]


def rows_of(records: Iterable[Mapping[str, Any]]) -> Iterator[Row]:
    """The rows of decoded records (responses left out)."""
    for rec in records:
        event = rec["event"]
        if event == "response":
            continue
        run = rec["run"]
        if event == "final":
            outcome = rec["outcome"]
            yield (
                run,
                "",
                "final",
                rec["peer_id"],
                rec.get("vif_id"),
                "",
                outcome,
                rec.get("reason"),
                "",
            )
        elif event == "dispatch":
            yield run, "dispatch", "", rec["peer_id"], rec["vif_id"], "", None, None, ""
        else:
            yield run, "", "", None, None, "", None, None, rec


def fold_rows(rows: Iterable[Row]) -> AuditState:
    """Fold rows (see `Row`; any number of runs, in log order) into an AuditState."""
    with gc_paused():
        return _fold(rows)


#: One string object per outcome, and per repeated reason (a million "204"s): the fold keeps
#: one of each per peer. Reasons beyond this many distinct ones are kept as they come.
_OUTCOMES = {o.value: o for o in Outcome}
_NO_RUN = object()  # before the first record
_SHARED_REASONS = 10_000


def _fold(rows: Iterable[Row]) -> AuditState:
    runs: dict[Any, dict[str, Any]] = {}
    # Each peer's latest telling final, in order of first appearance: a dispatch holds the
    # peer's place (None) until a final comes.
    latest: dict[str, LatestFinal | None] = {}
    open_: dict[str, tuple[Any, Any]] = {}  # (run, vif_id) of a dispatch no final followed yet
    unknown: list[str] = []  # peers given an outcome this version cannot name
    reasons: dict[str, str] = {}
    new = tuple.__new__  # LatestFinal(...) minus its Python-level __new__: a million of them
    run_id: Any = _NO_RUN
    acc: dict[str, Any] = {}
    finals: dict[str, int] = {}

    def switch(run: Any) -> tuple[Any, dict[str, Any], dict[str, int]]:
        # Rows come grouped by run: the run is looked up only when it changes.
        acc = runs.get(run) or runs.setdefault(run, {"finals": {}, "unfinished": 0})
        return run, acc, acc["finals"]

    # A million peers' hot loop: kept flat.
    for run, dispatched, final, peer_id, vif_id, null, given, reason, other in rows:
        if final:
            if run != run_id:
                run_id, acc, finals = switch(run)
            finals[given] = finals.get(given, 0) + 1
            was = open_.pop(peer_id, None) if open_ else None
            if was is not None and was[0] != run_id:
                runs[was[0]]["unfinished"] += 1
            if given in _PASSIVE and latest.get(peer_id) is not None:
                continue
            outcome = _OUTCOMES.get(given)
            if outcome is None:
                unknown.append(peer_id)
            kept = reason
            if type(reason) is str:
                shared = reasons.get(reason)
                if shared is not None:
                    kept = shared
                elif len(reasons) < _SHARED_REASONS:
                    reasons[reason] = reason
            latest[peer_id] = new(
                LatestFinal, (outcome or given, kept, run_id, None if null else vif_id)
            )
        elif dispatched:
            if run != run_id:
                run_id, acc, finals = switch(run)
            latest.setdefault(peer_id, None)  # holds the peer's place until a final comes
            was = open_.get(peer_id)
            if was is not None and was[0] != run_id:
                runs[was[0]]["unfinished"] += 1
            open_[peer_id] = (run_id, None if null else vif_id)
        elif other:
            if run != run_id:
                run_id, acc, finals = switch(run)
            event = other["event"]
            if event == "run_started":
                acc["started"] = other
            elif event == "run_finished":
                acc["finished"] = other

    for peer_id in unknown:
        last = latest[peer_id]
        if last is not None and type(last.outcome) is not Outcome:
            raise _unknown_outcome(peer_id, last.run, last.outcome)
    order = tuple(latest)
    dispatched_unfinished: dict[str, str | None] = {}
    if open_:  # a crashed run: in order of first appearance, as documented
        dispatched_unfinished = {
            peer_id: open_[peer_id][1] for peer_id in order if peer_id in open_
        }
    for peer_id, (run, _vif_id) in open_.items():
        runs[run]["unfinished"] += 1
        if latest[peer_id] is None:
            del latest[peer_id]  # dispatched, never finaled: no latest final
    summaries = tuple(_summary(run, acc) for run, acc in runs.items())
    return AuditState(
        summaries, cast("dict[str, LatestFinal]", latest), dispatched_unfinished, order
    )


def _unknown_outcome(peer_id: str, run: str, outcome: object) -> AuditError:
    return AuditError(
        f"audit log: final record of peer {peer_id} in run {run} has "
        f"unknown outcome {outcome!r}; use the bulkdel version that wrote the log"
    )


def _summary(run: str, acc: Mapping[str, Any]) -> RunSummary:
    start: Mapping[str, Any] = acc.get("started") or {}
    end: Mapping[str, Any] = acc.get("finished") or {}
    resumed = start.get("resumed_from")
    stop = end.get("stop_reason")
    return RunSummary(
        run=run,
        started=start.get("ts"),
        finished=end.get("ts"),
        stop_reason=StopReason(stop) if stop in _STOP_REASONS else None,
        exit_code=end.get("exit_code"),
        counts=end.get("counts") or {},
        duration_s=end.get("duration_s"),
        settings=start.get("settings") or {},
        project_id=start.get("project_id"),
        endpoint=start.get("endpoint"),
        inventory=start.get("inventory"),
        resumed_from=None if resumed is None else tuple(resumed),
        version=start.get("version"),
        planned=start.get("planned") or {},
        final_counts=acc["finals"],
        unfinished=acc["unfinished"],
        started_record=acc.get("started"),
    )


def peers_to_skip(state: AuditState) -> dict[str, str]:
    """Peers `--resume` skips (latest final deleted or gone), with a reason for the `final`."""
    return {
        peer_id: f"{last.outcome.value} in run {last.run}"
        for peer_id, last in state.latest_final.items()
        if last.outcome in DONE_OUTCOMES
    }


def peers_to_replay(
    state: AuditState, only: frozenset[Outcome] = DEFAULT_REPLAY
) -> list[tuple[str, str | None]]:
    """(peer_id, vif_id) to re-run, in first-appearance order.

    A peer qualifies when its latest event is a `dispatch` with no `final` after it (a crash),
    or, failing that, when its latest final outcome is in `only`.
    """
    out: list[tuple[str, str | None]] = []
    open_ = state.dispatched_unfinished
    latest = state.latest_final
    # A tuple, not the set: `in` a tuple compares by identity (then str ==) in C, where a set
    # would call Enum's Python-level __hash__ for each of a million peers.
    wanted = tuple(only)
    if not open_:  # no crash: latest_final is in first-appearance order already
        return [
            (peer_id, last.vif_id) for peer_id, last in latest.items() if last.outcome in wanted
        ]
    for peer_id in state.peer_order:
        if peer_id in open_:
            out.append((peer_id, open_[peer_id]))
        else:
            last = latest.get(peer_id)
            if last is not None and last.outcome in wanted:
                out.append((peer_id, last.vif_id))
    return out
