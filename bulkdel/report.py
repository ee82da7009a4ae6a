"""Summarise an audit log: outcomes, error codes, throttling, rate, latency, runs.

Pure: `build_report` folds already-decoded audit records (schema v1) in one pass and
`render` turns the result into a table, JSON or Markdown. Records are taken in file order;
the audit log is append-only with one writer, so file order is time order.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bulkdel.errors import UsageError
from bulkdel.gcpause import gc_paused
from bulkdel.models import Action, Outcome

_NO_RUN = object()  # no record read yet

#: Peer IDs listed under `unfinished_peers` unless every peer is asked for.
UNFINISHED_SHOWN = 100
_PERCENTILES = (50, 95, 99)
# Reuse one string object per known outcome: a million finals would otherwise keep a million.
_CANON = {o.value: o.value for o in Outcome}
_ORDER = {o.value: i for i, o in enumerate(Outcome)}


@dataclass(frozen=True, slots=True)
class Latency:
    """Response latency in milliseconds; nearest-rank percentiles, None without responses."""

    count: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run as its records tell it; `finished` is None when it never wrote run_finished."""

    run: str
    started: str | None
    finished: str | None
    stop_reason: str | None
    exit_code: int | None
    counts: Mapping[str, int]  # final records of this run, by outcome
    resumed_from: tuple[str, ...] | None
    duration_s: float  # run_finished.duration_s, else first to last record
    dispatches: int
    unfinished: int  # peers dispatched in this run without a final in this run


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `bulkdel report` shows; `to_json()` is the `--format json` document."""

    run_filter: str | None
    peers: int
    counts: Mapping[str, int]  # each peer once, by its latest final outcome
    error_codes: Mapping[str, int]
    statuses: Mapping[str, int]
    transport_errors: Mapping[str, int]
    throttled: int
    retries: int
    dispatches: int
    responses: int
    duration_s: float
    latency: Latency
    runs: tuple[RunSummary, ...]
    unfinished: int
    unfinished_peers: tuple[str, ...]  # sorted; capped at UNFINISHED_SHOWN unless include_peers
    ignored_records: int
    by_peer: Mapping[str, str | None] | None = None  # only with include_peers=True

    @property
    def rate_per_s(self) -> float | None:
        """DELETEs sent (retries included) per second of run time; None when no time passed."""
        return self.dispatches / self.duration_s if self.duration_s > 0 else None

    @property
    def deleted_per_s(self) -> float | None:
        """Peers ending `deleted` per second of run time; None when no time passed."""
        deleted = self.counts.get(Outcome.DELETED.value, 0)
        return deleted / self.duration_s if self.duration_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        out: dict[str, Any] = {
            "run": self.run_filter,
            "peers": self.peers,
            "counts": dict(self.counts),
            "counts_by_run": {r.run: dict(r.counts) for r in self.runs},
            "error_codes": dict(self.error_codes),
            "statuses": dict(self.statuses),
            "transport_errors": dict(self.transport_errors),
            "throttled": self.throttled,
            "retries": self.retries,
            "dispatches": self.dispatches,
            "responses": self.responses,
            "duration_s": round(self.duration_s, 3),
            "rate_per_s": _round(self.rate_per_s),
            "deleted_per_s": _round(self.deleted_per_s),
            "latency_ms": {
                "count": self.latency.count,
                "p50": self.latency.p50,
                "p95": self.latency.p95,
                "p99": self.latency.p99,
                "min": self.latency.min,
                "max": self.latency.max,
                "mean": _round(self.latency.mean),
            },
            "runs": [
                {
                    "run": r.run,
                    "started": r.started,
                    "finished": r.finished,
                    "stop_reason": r.stop_reason,
                    "exit_code": r.exit_code,
                    "counts": dict(r.counts),
                    "resumed_from": None if r.resumed_from is None else list(r.resumed_from),
                    "duration_s": round(r.duration_s, 3),
                    "dispatches": r.dispatches,
                    "unfinished": r.unfinished,
                }
                for r in self.runs
            ],
            "unfinished": self.unfinished,
            "unfinished_peers": list(self.unfinished_peers),
            "ignored_records": self.ignored_records,
        }
        if self.by_peer is not None:
            out["by_peer"] = dict(self.by_peer)
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class _RunAcc:
    """Mutable per-run tally used only while folding."""

    __slots__ = ("counts", "dispatches", "finished", "first_ts", "last_ts", "open", "started")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.dispatches = 0
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self.started: Mapping[str, Any] | None = None
        self.finished: Mapping[str, Any] | None = None
        self.open: dict[str, None] = {}  # dispatched, no final yet: in flight or crashed


def build_report(
    records: Iterable[Mapping[str, Any]], *, run: str | None = None, include_peers: bool = False
) -> Report:
    """Fold audit records into a Report, in one pass.

    `run` keeps only that run's records (UsageError naming the known runs if it has none).
    Across several runs each peer counts once, by its latest final outcome; a later `skipped`
    does not hide the earlier outcome it stands for. `include_peers` adds `by_peer` and lists
    every unfinished peer (large for big inventories).
    """
    with gc_paused():
        return _build(records, run, include_peers)


def _build(records: Iterable[Mapping[str, Any]], run: str | None, include_peers: bool) -> Report:
    runs: dict[str, _RunAcc] = {}
    seen_runs: dict[str, None] = {}
    latest: dict[str, str] = {}
    anonymous: Counter[str] = Counter()  # finals without a peer ID (invalid rows)
    open_peers: dict[str, None] = {}  # latest dispatch not followed by any final
    codes: Counter[Any] = Counter()  # keyed as logged; str() of each once, at the end
    status_counts: Counter[Any] = Counter()
    transport: Counter[str] = Counter()
    elapsed = array("d")  # 8 bytes a response instead of a float object's 32
    throttled = retries = dispatches = responses = ignored = 0
    raw_run: object = _NO_RUN
    acc = _RunAcc()
    keep = False
    canon, skipped, retry = _CANON, Outcome.SKIPPED.value, Action.RETRY.value
    for rec in records:
        raw = rec.get("run")
        if raw is not raw_run and not (type(raw) is str and raw == raw_run):
            raw_run = raw  # records come grouped by run: this runs once a run
            run_id = str(raw_run or "unknown")
            seen_runs[run_id] = None
            keep = run is None or run_id == run
            if keep:
                acc = runs.get(run_id) or runs.setdefault(run_id, _RunAcc())
        if not keep:
            continue
        ts = rec.get("ts")
        if isinstance(ts, str):
            acc.last_ts = ts
            if acc.first_ts is None:
                acc.first_ts = ts
        event = rec.get("event")
        if event == "response":
            responses += 1
            status = rec.get("status")
            if status is None:
                status_counts["transport"] += 1
                codes["transport"] += 1
                transport[str(rec.get("error_msg") or "unknown")[:80]] += 1
            else:
                status_counts[status] += 1
                code = rec.get("error_code")
                if code:
                    codes[code] += 1
                elif isinstance(status, int) and status >= 400:
                    codes[f"http_{status}"] += 1
                if status == 429:
                    throttled += 1
            if rec.get("action") == retry:
                retries += 1
            ms = rec.get("elapsed_ms")
            if type(ms) is float or (isinstance(ms, int | float) and not isinstance(ms, bool)):
                elapsed.append(ms)
        elif event == "dispatch":
            dispatches += 1
            acc.dispatches += 1
            peer = rec.get("peer_id")
            if isinstance(peer, str):
                acc.open[peer] = None
                open_peers[peer] = None
        elif event == "final":
            given = rec.get("outcome")
            outcome = canon.get(given) if type(given) is str else None
            if outcome is None:
                outcome = str(given)
            acc.counts[outcome] += 1
            peer = rec.get("peer_id")
            if not isinstance(peer, str):
                anonymous[outcome] += 1
                continue
            acc.open.pop(peer, None)
            open_peers.pop(peer, None)
            if outcome != skipped or peer not in latest:
                latest[peer] = outcome
        elif event == "run_started":
            acc.started = rec
        elif event == "run_finished":
            acc.finished = rec
        else:
            ignored += 1
    error_codes: Counter[str] = Counter()
    for code, n in codes.items():
        error_codes[str(code)] += n
    statuses: Counter[str] = Counter()
    for status, n in status_counts.items():
        statuses[str(status)] += n
    if run is not None and not runs:
        known = ", ".join(list(seen_runs)[-10:]) or "none"
        raise UsageError(
            f"no records for run {run!r} in this audit log; runs in it (latest 10): {known}. "
            "Run `bulkdel report` without --run to see them all"
        )
    counts = Counter(latest.values()) + anonymous
    unfinished = sorted(open_peers)
    summaries = tuple(_summarise(run_id, acc) for run_id, acc in runs.items())
    by_peer: dict[str, str | None] | None = None
    if include_peers:
        by_peer = dict.fromkeys(unfinished, None)
        by_peer.update(latest)
    return Report(
        run_filter=run,
        peers=len(latest) + sum(1 for p in unfinished if p not in latest) + anonymous.total(),
        counts=_outcome_order(counts),
        error_codes=dict(error_codes.most_common()),
        statuses=dict(sorted(statuses.items())),
        transport_errors=dict(transport.most_common()),
        throttled=throttled,
        retries=retries,
        dispatches=dispatches,
        responses=responses,
        duration_s=sum(s.duration_s for s in summaries),
        latency=latency_stats(sorted(elapsed)),
        runs=summaries,
        unfinished=len(unfinished),
        unfinished_peers=tuple(unfinished if include_peers else unfinished[:UNFINISHED_SHOWN]),
        ignored_records=ignored,
        by_peer=by_peer,
    )


def _outcome_order(counts: Mapping[str, int]) -> dict[str, int]:
    """Known outcomes in their declared order, then anything unexpected alphabetically."""
    return dict(sorted(counts.items(), key=lambda kv: (_ORDER.get(kv[0], len(_ORDER)), kv[0])))


def _summarise(run_id: str, acc: _RunAcc) -> RunSummary:
    started = acc.started or {}
    finished = acc.finished or {}
    duration = finished.get("duration_s")
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        duration = _seconds_between(acc.first_ts, acc.last_ts)
    resumed = started.get("resumed_from")
    exit_code = finished.get("exit_code")
    return RunSummary(
        run=run_id,
        started=started.get("ts"),
        finished=finished.get("ts"),
        stop_reason=finished.get("stop_reason"),
        exit_code=exit_code if isinstance(exit_code, int) else None,
        counts=_outcome_order(acc.counts),
        resumed_from=tuple(str(r) for r in resumed) if isinstance(resumed, list) else None,
        duration_s=float(duration),
        dispatches=acc.dispatches,
        unfinished=len(acc.open),
    )


def _seconds_between(first: str | None, last: str | None) -> float:
    """Seconds between two record timestamps; 0 when either is missing or unreadable."""
    if first is None or last is None:
        return 0.0
    try:
        return max(
            0.0, (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
        )
    except ValueError:
        return 0.0


def latency_stats(values: list[float]) -> Latency:
    """Exact nearest-rank percentiles (sorts `values` in place)."""
    n = len(values)
    if n == 0:
        return Latency()
    values.sort()
    # Nearest rank: the ceil(p/100 * n)-th smallest value, in integer arithmetic.
    p50, p95, p99 = (values[max(0, -(-p * n // 100) - 1)] for p in _PERCENTILES)
    return Latency(n, p50, p95, p99, values[0], values[-1], sum(values) / n)


# --- rendering ---------------------------------------------------------------------------------

Format = Literal["table", "json", "markdown"]
FORMATS: tuple[str, ...] = ("table", "json", "markdown")


def render(report: Report, fmt: Format) -> str:
    """Render a report as an aligned plain-text table, GitHub Markdown, or JSON."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, sort_keys=True)
    if fmt not in ("table", "markdown"):
        raise UsageError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    md = fmt == "markdown"
    table = _md_table if md else _text_table
    parts: list[str] = []
    scope = f"run {report.run_filter}" if report.run_filter else f"{len(report.runs)} run(s)"
    parts.append(("## " if md else "") + f"bulkdel report: {scope}, {report.peers} peers")
    rate, deleted_rate = _num(report.rate_per_s, 2), _num(report.deleted_per_s, 2)
    facts = [
        ("duration", f"{report.duration_s:.1f} s"),
        ("DELETEs sent", str(report.dispatches)),
        ("rate", f"{rate} req/s ({deleted_rate} deleted/s)"),
        ("throttled (429)", str(report.throttled)),
        ("retries", str(report.retries)),
        ("unfinished", str(report.unfinished)),
    ]
    parts.append(table(["", ""], facts, "lr") if not md else _md_bullets(facts))
    total = sum(report.counts.values())
    rows = [(k, str(v)) for k, v in report.counts.items()] + [("total", str(total))]
    parts.append(table(["outcome", "peers"], rows, "lr"))
    lat = report.latency
    parts.append(
        table(
            ["latency ms", "p50", "p95", "p99", "min", "max", "n"],
            [("responses", *(_num(v, 1) for v in (lat.p50, lat.p95, lat.p99, lat.min, lat.max)),
              str(lat.count))],
            "lrrrrrr",
        )
    )  # fmt: skip
    if report.error_codes:
        rows = [(k, str(v)) for k, v in report.error_codes.items()]
        parts.append(table(["error code", "count"], rows, "lr"))
    run_rows = [
        (
            r.run,
            r.started or "-",
            r.finished or "unfinished",
            r.stop_reason or "-",
            "-" if r.exit_code is None else str(r.exit_code),
            f"{r.duration_s:.1f}",
            " ".join(f"{k}={v}" for k, v in r.counts.items()) or "-",
        )
        for r in report.runs
    ]
    headers = ["run", "started", "finished", "stop", "exit", "seconds", "outcomes"]
    parts.append(table(headers, run_rows, "lllllrl"))
    if report.unfinished_peers:
        more = report.unfinished - len(report.unfinished_peers)
        tail = f" (and {more} more)" if more else ""
        ids = ", ".join(report.unfinished_peers)
        parts.append(f"dispatched without a final (replay them): {ids}{tail}")
    return "\n\n".join(parts) + "\n"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """Columns padded to their widest cell; `align` has one `l` or `r` per column."""
    grid = [list(headers), *[list(r) for r in rows]] if any(headers) else [list(r) for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(align))]
    lines = []
    for row in grid:
        cells = [
            c.rjust(w) if a == "r" else c.ljust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if any(headers):
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_bullets(facts: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"- **{k}**: {v}" for k, v in facts)
