"""The executor against fake deleter, limiter, clock and sink."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from bulkdel.clock import FakeClock
from bulkdel.executor import Control, ExecResult, ExecSettings, Executor, exit_code_for
from bulkdel.models import Action, ApiResponse, Decision, Outcome, Planned, StopReason

from .fakes import FakeDeleter, FakeLimiter, ListSink


def _ids(n: int, seed: int = 0) -> list[str]:
    return [str(uuid.UUID(int=seed * 10_000 + i + 1)) for i in range(n)]


def _decisions(peers: list[str], vif_of: dict[str, str] | None = None) -> list[Decision]:
    vif_of = vif_of or {}
    return [Decision(p, Planned.DELETE, vif_of.get(p, "vif-" + p)) for p in peers]


async def _run(
    deleter: FakeDeleter, decisions: list[Decision], control: Control | None = None, **settings: Any
) -> tuple[ExecResult, ListSink, FakeLimiter]:
    sink = ListSink()
    limiter = FakeLimiter()
    ex = Executor(
        run_id="r1",
        deleter=deleter,
        limiter=limiter,
        clock=FakeClock(),
        sink=sink,
        settings=ExecSettings(**settings),
        control=control or Control(),
    )
    result = await ex.run(decisions)
    return result, sink, limiter


async def test_every_peer_deleted_once_with_dispatch_before_response() -> None:
    """All 204: one dispatch, one response, one final per peer, dispatch first."""
    peers = _ids(20)
    result, sink, _ = await _run(FakeDeleter(), _decisions(peers), concurrency=4)
    assert result.counts == Counter({"deleted": 20})
    assert result.stop_reason is StopReason.COMPLETED
    for p in peers:
        kinds = [r["event"] for r in sink.records if r.get("peer_id") == p]
        assert kinds == ["dispatch", "response", "final"]


async def test_5xx_is_retried_then_deleted() -> None:
    """A 503 is retried with backoff and the second attempt's 204 wins."""

    def script(_p: str, attempt: int) -> ApiResponse:
        return ApiResponse(status=503) if attempt == 1 else ApiResponse(status=204)

    peers = _ids(3)
    result, sink, _ = await _run(FakeDeleter(script), _decisions(peers))
    assert result.counts == Counter({"deleted": 3})
    actions = [r["action"] for r in sink.events("response")]
    assert actions.count(Action.RETRY) == 3
    assert all(r["attempts"] == 2 for r in sink.events("final"))


@pytest.mark.parametrize(
    ("resp", "outcome"),
    [
        (ApiResponse(status=404), Outcome.GONE),
        (ApiResponse(status=400, error_code="DC.0002"), Outcome.GONE),
        (ApiResponse(status=400, error_code="DC.1236"), Outcome.FAILED),
        (ApiResponse(status=409, error_code="DC.9999"), Outcome.FAILED),
    ],
)
async def test_terminal_answers(resp: ApiResponse, outcome: Outcome) -> None:
    """404 and DC.0002 are gone; other 4xx fail at once without a retry."""
    deleter = FakeDeleter(lambda _p, _a: resp)
    result, _, _ = await _run(deleter, _decisions(_ids(1)))
    assert result.counts == Counter({outcome.value: 1})
    assert len(deleter.calls) == 1


async def test_attempts_exhausted_is_failed() -> None:
    """A peer that keeps getting 503 fails after max_attempts requests."""
    deleter = FakeDeleter(lambda _p, _a: ApiResponse(status=503))
    result, sink, _ = await _run(deleter, _decisions(_ids(1)), max_attempts=3)
    assert result.counts == Counter({"failed": 1})
    assert len(deleter.calls) == 3
    assert sink.events("response")[-1]["action"] == Action.FAIL


async def test_403_stops_the_run_and_defers_the_rest() -> None:
    """A 403 stops dispatching: exit 4, the rest deferred, nothing more sent."""
    deleter = FakeDeleter(lambda _p, _a: ApiResponse(status=403, error_code="APIGW.0302"))
    result, _, _ = await _run(deleter, _decisions(_ids(10)), concurrency=1)
    assert result.stop_reason is StopReason.AUTH_FAILED
    assert len(deleter.calls) == 1
    assert result.counts == Counter({"deferred": 10})
    assert exit_code_for(result.counts, result.stop_reason) == 4


async def test_401_refreshes_once_when_possible() -> None:
    """A 401 with a refreshable credential refreshes and retries."""

    def script(_p: str, attempt: int) -> ApiResponse:
        return ApiResponse(status=401) if attempt == 1 else ApiResponse(status=204)

    deleter = FakeDeleter(script, can_refresh=True)
    result, _, _ = await _run(deleter, _decisions(_ids(1)))
    assert result.counts == Counter({"deleted": 1})
    assert deleter.refreshes == 1


async def test_429_slows_the_limiter() -> None:
    """A 429 tells the limiter to slow down, and the peer is retried."""

    def script(_p: str, attempt: int) -> ApiResponse:
        return (
            ApiResponse(status=429, error_code="APIGW.0308")
            if attempt == 1
            else (ApiResponse(status=204))
        )

    result, _, limiter = await _run(FakeDeleter(script), _decisions(_ids(2)))
    assert result.counts == Counter({"deleted": 2})
    assert limiter.throttled == 2


async def test_concurrency_and_lane_caps_hold() -> None:
    """In-flight never exceeds the global cap, nor the per-interface lane."""
    peers = _ids(40)
    owner = {p: f"vif-{i % 5}" for i, p in enumerate(peers)}
    deleter = FakeDeleter(owner=owner, delay=0.001)
    result, _, _ = await _run(deleter, _decisions(peers, owner), concurrency=4, per_interface=1)
    assert result.counts == Counter({"deleted": 40})
    assert deleter.peak <= 4
    assert deleter.peak_per_vif == 1


@pytest.mark.parametrize("concurrency", [1, 3, 16])
async def test_max_deletes_is_exact(concurrency: int) -> None:
    """--max-deletes N gives exactly N deletions at any concurrency; the rest deferred."""
    deleter = FakeDeleter(delay=0.001)
    result, _, _ = await _run(deleter, _decisions(_ids(30)), concurrency=concurrency, max_deletes=7)
    assert result.counts["deleted"] == 7
    assert result.counts["deferred"] == 23
    assert len(deleter.calls) == 7
    assert result.stop_reason is StopReason.MAX_DELETES


async def test_max_deletes_counts_only_deletions() -> None:
    """Peers that turn out gone do not use up --max-deletes."""

    def script(peer: str, _a: int) -> ApiResponse:
        return (
            ApiResponse(status=404) if peer.endswith(("1", "3", "5")) else ApiResponse(status=204)
        )

    result, _, _ = await _run(
        FakeDeleter(script), _decisions(_ids(12)), concurrency=4, max_deletes=5
    )
    assert result.counts["deleted"] == 5


async def test_dry_run_sends_nothing() -> None:
    """--dry-run records would_delete and calls no DELETE."""
    deleter = FakeDeleter()
    result, sink, _ = await _run(deleter, _decisions(_ids(5)), dry_run=True)
    assert deleter.calls == []
    assert result.counts == Counter({"would_delete": 5})
    assert sink.events("dispatch") == []


async def test_no_request_decisions_get_finals() -> None:
    """Gone, protected, invalid and skipped decisions are recorded without a request."""
    ds = [
        Decision("a", Planned.GONE, None, "absent"),
        Decision("b", Planned.PROTECTED, "v", "last peer of v"),
        Decision("c", Planned.INVALID, None, "bad"),
        Decision("d", Planned.SKIPPED, None, "done before"),
    ]
    deleter = FakeDeleter()
    result, sink, _ = await _run(deleter, ds)
    assert deleter.calls == []
    assert result.counts == Counter({"gone": 1, "protected": 1, "invalid": 1, "skipped": 1})
    assert [r["reason"] for r in sink.events("final")][1] == "last peer of v"


async def test_stop_request_defers_undispatched_peers() -> None:
    """After a stop, no new DELETE leaves and undispatched peers are deferred."""
    control = Control()
    peers = _ids(20)

    def script(_p: str, _a: int) -> ApiResponse:
        control.request_stop(StopReason.INTERRUPTED)
        return ApiResponse(status=204)

    deleter = FakeDeleter(script)
    result, _, _ = await _run(deleter, _decisions(peers), concurrency=1, control=control)
    assert len(deleter.calls) == 1
    assert result.counts == Counter({"deleted": 1, "deferred": 19})
    assert result.stop_reason is StopReason.INTERRUPTED


def test_exit_codes() -> None:
    """Exit code precedence: auth 4, failed 1, incomplete 3, else 0."""
    assert exit_code_for({"deleted": 3, "gone": 1}, StopReason.COMPLETED) == 0
    assert exit_code_for({"deleted": 3, "failed": 1}, StopReason.COMPLETED) == 1
    assert exit_code_for({"deleted": 3, "deferred": 1}, StopReason.WINDOW_CLOSED) == 3
    assert exit_code_for({"deferred": 3}, StopReason.AUTH_FAILED) == 4


async def test_cancel_now_leaves_no_peer_without_a_final() -> None:
    """An immediate cancel while requests hang: in-flight unknown, waiting ones deferred."""
    import anyio

    control = Control()
    deleter = FakeDeleter(delay=30)
    sink = ListSink()
    ex = Executor(
        run_id="r1",
        deleter=deleter,
        limiter=FakeLimiter(),
        clock=FakeClock(),
        sink=sink,
        settings=ExecSettings(concurrency=2),
        control=control,
    )
    peers = _ids(6)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ex.run, _decisions(peers))
        await anyio.sleep(0.05)
        control.request_stop(StopReason.INTERRUPTED)
        control.cancel_now()
    finals = {r["peer_id"]: r["outcome"] for r in sink.events("final")}
    assert set(finals) == set(peers)
    assert Counter(finals.values()) == {"unknown": 2, "deferred": 4}
