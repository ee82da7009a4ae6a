"""Tests for bulkdel.report: folding audit records into a report and rendering it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkdel.errors import UsageError
from bulkdel.report import UNFINISHED_SHOWN, build_report, latency_stats, render

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def peer(n: int) -> str:
    """A canonical-looking peer UUID numbered n."""
    return f"00000000-0000-4000-8000-{n:012d}"


class Log:
    """Builds schema-v1 audit records with a clock that ticks 100 ms per record."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.clock = T0

    def add(self, run: str, event: str, **fields: Any) -> None:
        """Append one record."""
        ts = self.clock.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.clock.microsecond // 1000:03d}Z"
        self.clock += timedelta(milliseconds=100)
        self.records.append({"v": 1, "ts": ts, "run": run, "event": event, **fields})

    def start(self, run: str, resumed_from: list[str] | None = None) -> None:
        """A run_started record."""
        self.add(run, "run_started", version="0.1.0", project_id="p", resumed_from=resumed_from)

    def attempt(
        self,
        run: str,
        n: int,
        status: int | None,
        *,
        attempt: int = 1,
        action: str = "done",
        code: str | None = None,
        msg: str | None = None,
        ms: float = 10.0,
    ) -> None:
        """A dispatch followed by its response."""
        self.add(run, "dispatch", peer_id=peer(n), vif_id="v", attempt=attempt)
        self.add(run, "response", peer_id=peer(n), vif_id="v", attempt=attempt, status=status,
                 error_code=code, error_msg=msg, request_id="req", elapsed_ms=ms, action=action,
                 retry_in_s=None)  # fmt: skip

    def final(self, run: str, n: int | None, outcome: str, attempts: int = 1) -> None:
        """A final record (n=None: a row without a peer ID)."""
        pid = None if n is None else peer(n)
        self.add(
            run, "final", peer_id=pid, vif_id="v", outcome=outcome, reason="", attempts=attempts
        )

    def finish(
        self, run: str, duration_s: float, exit_code: int = 0, stop: str = "completed"
    ) -> None:
        """A run_finished record."""
        self.add(run, "run_finished", counts={}, duration_s=duration_s, exit_code=exit_code,
                 stop_reason=stop)  # fmt: skip


def simple_run() -> Log:
    """One finished run: 3 deleted, 1 gone (404), 1 failed after a 429 retry and a 400."""
    log = Log()
    log.start("r1")
    for n, ms in zip(range(3), (10.0, 20.0, 30.0), strict=True):
        log.attempt("r1", n, 204, ms=ms)
        log.final("r1", n, "deleted")
    log.attempt("r1", 3, 404, ms=5.0)
    log.final("r1", 3, "gone")
    log.attempt("r1", 4, 429, action="retry", code="APIGW.0308", ms=1.0)
    log.attempt("r1", 4, 400, attempt=2, action="fail", code="DC.9999", ms=2.0)
    log.final("r1", 4, "failed", attempts=2)
    log.final("r1", 5, "protected")
    log.finish("r1", duration_s=2.0, exit_code=1)
    return log


def test_single_run_counts_and_totals() -> None:
    """Counts, dispatches, throttling, retries and duration come from one run's records."""
    rep = build_report(simple_run().records)
    assert dict(rep.counts) == {"deleted": 3, "gone": 1, "protected": 1, "failed": 1}
    assert rep.peers == 6
    assert rep.dispatches == 6
    assert rep.responses == 6
    assert rep.throttled == 1
    assert rep.retries == 1
    assert rep.duration_s == 2.0
    assert rep.rate_per_s == 3.0
    assert rep.deleted_per_s == 1.5
    assert rep.unfinished == 0


def test_error_codes_and_statuses() -> None:
    """Error codes count responses; transport errors and bare HTTP errors get their own keys."""
    log = simple_run()
    log.start("r2")
    log.attempt("r2", 7, None, action="retry", msg="timeout")
    log.attempt("r2", 7, 502, attempt=2, action="retry")
    log.attempt("r2", 7, 400, attempt=3, code="DC.0002")
    log.final("r2", 7, "gone", attempts=3)
    rep = build_report(log.records)
    assert dict(rep.error_codes) == {
        "APIGW.0308": 1, "DC.9999": 1, "transport": 1, "http_502": 1, "DC.0002": 1,
        "http_404": 1,
    }  # fmt: skip
    assert rep.statuses["204"] == 3
    assert rep.statuses["transport"] == 1
    assert dict(rep.transport_errors) == {"timeout": 1}
    assert rep.retries == 3


def test_latest_final_wins_across_runs() -> None:
    """A peer failed in run 1 and deleted in run 2 counts once, as deleted."""
    log = Log()
    log.start("r1")
    log.attempt("r1", 1, 500, action="fail")
    log.final("r1", 1, "failed")
    log.final("r1", 2, "deferred")
    log.finish("r1", 1.0, exit_code=3, stop="window_closed")
    log.start("r2", resumed_from=["r1"])
    log.attempt("r2", 1, 204)
    log.final("r2", 1, "deleted")
    log.final("r2", 2, "unknown")
    log.finish("r2", 1.5, exit_code=3, stop="interrupted")
    rep = build_report(log.records)
    assert dict(rep.counts) == {"deleted": 1, "unknown": 1}
    doc = rep.to_json()
    assert doc["counts_by_run"] == {
        "r1": {"failed": 1, "deferred": 1},
        "r2": {"deleted": 1, "unknown": 1},
    }
    assert rep.peers == 2
    assert rep.duration_s == 2.5
    assert [r.stop_reason for r in rep.runs] == ["window_closed", "interrupted"]
    assert rep.runs[1].resumed_from == ("r1",)
    assert rep.runs[0].resumed_from is None


def test_skipped_does_not_hide_earlier_outcome() -> None:
    """On resume a `skipped` final stands for the earlier deletion, which stays counted."""
    log = Log()
    log.start("r1")
    log.final("r1", 1, "deleted")
    log.final("r1", 2, "failed")
    log.start("r2", resumed_from=["r1"])
    log.final("r2", 1, "skipped")
    log.final("r2", 2, "deleted")
    log.final("r2", 3, "skipped")  # its earlier run is not in this log
    rep = build_report(log.records)
    assert dict(rep.counts) == {"deleted": 2, "skipped": 1}
    assert rep.runs[1].counts == {"deleted": 1, "skipped": 2}


def test_run_filter_keeps_one_run() -> None:
    """--run reports only that run's records."""
    log = simple_run()
    log.start("r2")
    log.attempt("r2", 9, 204, ms=500.0)
    log.final("r2", 9, "deleted")
    log.finish("r2", 4.0)
    rep = build_report(log.records, run="r2")
    assert rep.run_filter == "r2"
    assert dict(rep.counts) == {"deleted": 1}
    assert [r.run for r in rep.runs] == ["r2"]
    assert rep.duration_s == 4.0
    assert rep.latency.p50 == 500.0
    assert rep.throttled == 0


def test_unknown_run_names_known_runs() -> None:
    """Asking for a run that is not in the log lists the runs that are."""
    with pytest.raises(UsageError, match="r1"):
        build_report(simple_run().records, run="nope")


def test_unfinished_peers_are_crash_evidence() -> None:
    """Dispatches without a final, after the last final, are reported as unfinished."""
    log = Log()
    log.start("r1")
    log.attempt("r1", 1, 204)
    log.final("r1", 1, "deleted")
    log.add("r1", "dispatch", peer_id=peer(2), vif_id="v", attempt=1)  # crash: no response
    log.attempt("r1", 3, 503, action="retry")  # crash between retries
    rep = build_report(log.records)
    assert rep.unfinished == 2
    assert rep.unfinished_peers == (peer(2), peer(3))
    assert rep.peers == 3
    run = rep.runs[0]
    assert run.finished is None
    assert run.unfinished == 2
    assert run.duration_s == pytest.approx(0.6)  # first to last of 7 records 100 ms apart


def test_later_final_resolves_unfinished() -> None:
    """A peer left dispatched by a crashed run is no longer unfinished once a replay finals it."""
    log = Log()
    log.start("r1")
    log.add("r1", "dispatch", peer_id=peer(1), vif_id="v", attempt=1)
    log.start("r2", resumed_from=["r1"])
    log.final("r2", 1, "gone")
    rep = build_report(log.records)
    assert rep.unfinished == 0
    assert rep.runs[0].unfinished == 1
    assert dict(rep.counts) == {"gone": 1}


def test_by_peer_only_on_request_and_unfinished_capped() -> None:
    """Per-peer detail is absent by default; the unfinished list is capped unless asked."""
    log = Log()
    log.start("r1")
    log.final("r1", 0, "deleted")
    for n in range(1, UNFINISHED_SHOWN + 6):
        log.add("r1", "dispatch", peer_id=peer(n), vif_id="v", attempt=1)
    rep = build_report(log.records)
    assert rep.by_peer is None
    assert "by_peer" not in rep.to_json()
    assert rep.unfinished == UNFINISHED_SHOWN + 5
    assert len(rep.unfinished_peers) == UNFINISHED_SHOWN
    full = build_report(log.records, include_peers=True)
    assert full.by_peer is not None
    assert full.by_peer[peer(0)] == "deleted"
    assert full.by_peer[peer(1)] is None
    assert len(full.unfinished_peers) == UNFINISHED_SHOWN + 5
    assert full.to_json()["by_peer"][peer(0)] == "deleted"


def test_tolerates_odd_records() -> None:
    """Unknown events are counted as ignored; finals without a peer ID are still counted."""
    log = simple_run()
    log.add("r1", "mystery")
    log.final("r1", None, "invalid")
    log.final("r1", None, "invalid")
    log.records.append({"event": "response", "status": 204})  # no run, ts or elapsed
    rep = build_report(log.records)
    assert rep.ignored_records == 1
    assert rep.counts["invalid"] == 2
    assert rep.peers == 8
    assert rep.latency.count == 6
    assert "unknown" in [r.run for r in rep.runs]


def test_accepts_a_one_shot_iterator() -> None:
    """Records may come from a generator (a streamed audit file): one pass suffices."""
    records = simple_run().records
    gen: Iterator[dict[str, Any]] = (r for r in records)
    assert build_report(gen).to_json() == build_report(records).to_json()


def test_statuses_and_codes_count_by_their_text_and_latency_takes_ints() -> None:
    """A status logged as 204 or "204" is one row; integer latencies count as numbers."""
    log = simple_run()
    log.records.append({"v": 1, "ts": "x", "run": "r1", "event": "response", "status": "204"})
    log.records.append(
        {"v": 1, "run": "r1", "event": "response", "status": 500, "error_code": 7, "elapsed_ms": 3}
    )
    log.records.append(
        {"v": 1, "run": "r1", "event": "response", "status": 200, "elapsed_ms": True}
    )
    rep = build_report(log.records)
    assert rep.statuses["204"] == 4
    assert rep.error_codes["7"] == 1
    assert rep.latency.count == 7
    assert rep.latency.min == 1.0


def test_runs_are_told_apart_by_equal_ids_not_identical_objects() -> None:
    """Records of one run carry equal (not identical) run strings: still one run."""
    log = simple_run()
    for rec in log.records:
        rec["run"] = "".join(["r", "1"])  # a new string object each time
    rep = build_report(log.records)
    assert [r.run for r in rep.runs] == ["r1"]
    assert rep.runs[0].dispatches == 6


def test_empty_log() -> None:
    """An empty log gives zeros and null latency, not an error."""
    rep = build_report([])
    doc = rep.to_json()
    assert doc["counts"] == {}
    assert doc["latency_ms"]["p50"] is None
    assert doc["rate_per_s"] is None
    assert doc["runs"] == []


# --- latency percentiles ----------------------------------------------------------------------


def test_percentiles_nearest_rank_examples() -> None:
    """Nearest rank on 1..100 gives exactly 50, 95 and 99; one value is every percentile."""
    lat = latency_stats([float(v) for v in range(100, 0, -1)])
    assert (lat.p50, lat.p95, lat.p99, lat.min, lat.max, lat.mean) == (50, 95, 99, 1, 100, 50.5)
    one = latency_stats([7.0])
    assert one.p50 == one.p95 == one.p99 == 7.0
    small = latency_stats([1.0, 2.0, 3.0, 4.0])
    assert (small.p50, small.p95, small.p99) == (2.0, 4.0, 4.0)
    assert latency_stats([]).p50 is None


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_percentiles_ordered_and_nearest_rank(values: list[float]) -> None:
    """p50 <= p95 <= p99 within min..max, and each pN is the smallest value covering N%."""
    lat = latency_stats(list(values))
    assert lat.min is not None
    assert lat.max is not None
    assert lat.p50 is not None
    assert lat.p95 is not None
    assert lat.p99 is not None
    assert lat.min <= lat.p50 <= lat.p95 <= lat.p99 <= lat.max
    n = len(values)
    for p, got in ((50, lat.p50), (95, lat.p95), (99, lat.p99)):
        assert got in values
        assert sum(v <= got for v in values) * 100 >= p * n
        assert sum(v < got for v in values) * 100 < p * n


# --- rendering ---------------------------------------------------------------------------------


def test_json_has_contract_keys_and_round_trips() -> None:
    """--format json carries every key the contract names, with the numbers built."""
    rep = build_report(simple_run().records)
    doc = json.loads(render(rep, "json"))
    for key in ("counts", "error_codes", "throttled", "retries", "duration_s", "rate_per_s",
                "latency_ms", "runs", "counts_by_run", "peers", "unfinished"):  # fmt: skip
        assert key in doc
    assert doc["counts"]["deleted"] == 3
    assert doc["throttled"] == 1
    assert doc["latency_ms"] == {
        "count": 6, "p50": 5.0, "p95": 30.0, "p99": 30.0, "min": 1.0, "max": 30.0, "mean": 11.333,
    }  # fmt: skip
    assert doc["runs"][0]["exit_code"] == 1
    assert doc["runs"][0]["started"] == "2026-12-03T01:00:00.000Z"


def test_table_is_aligned_text_with_numbers() -> None:
    """The table shows outcomes, latency, error codes and runs as aligned plain text."""
    text = render(build_report(simple_run().records), "table")
    assert "\x1b[" not in text
    lines = text.splitlines()
    deleted = next(line for line in lines if line.startswith("deleted"))
    failed = next(line for line in lines if line.startswith("failed"))
    assert deleted.split() == ["deleted", "3"]
    assert len(deleted) == len(failed)  # right-aligned count column
    assert "APIGW.0308" in text
    assert "r1" in text
    assert "3.00 req/s" in text
    assert "30.0" in text


def test_markdown_uses_github_tables() -> None:
    """Markdown output has GitHub tables with the counts."""
    text = render(build_report(simple_run().records), "markdown")
    assert "| outcome | peers |" in text
    assert "|---|---:|" in text
    assert "| deleted | 3 |" in text
    assert "| APIGW.0308 | 1 |" in text
    assert text.startswith("## bulkdel report")


def test_table_lists_unfinished_peers() -> None:
    """Unfinished peers are named in the text so the operator knows to replay."""
    log = Log()
    log.start("r1")
    log.add("r1", "dispatch", peer_id=peer(2), vif_id="v", attempt=1)
    text = render(build_report(log.records), "table")
    assert peer(2) in text
    assert "unfinished" in text


def test_unknown_format_is_usage_error() -> None:
    """An unknown format names the valid ones."""
    with pytest.raises(UsageError, match="markdown"):
        render(build_report([]), "yaml")  # type: ignore[arg-type]
