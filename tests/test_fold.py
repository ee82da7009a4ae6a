"""Tests for bulkdel.fold: per-run summaries and per-peer state across runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkdel import audit
from bulkdel.errors import AuditError
from bulkdel.fold import (
    DEFAULT_REPLAY,
    LatestFinal,
    fold,
    peers_to_replay,
    peers_to_skip,
)
from bulkdel.models import Action, Outcome, StopReason

TS = "2026-12-03T01:02:03.456Z"
SETTINGS = {"rate": 10, "burst": 1, "concurrency": 8, "per_interface": 1, "max_attempts": 5}
P1, P2, P3 = "peer-1", "peer-2", "peer-3"
V1, V2 = "vif-1", "vif-2"


def start(run: str, resumed: list[str] | None = None) -> dict[str, Any]:
    return audit.run_started(
        run,
        TS,
        version="0.1.0",
        project_id="proj",
        endpoint="https://dc.example",
        inventory="peers.csv",
        inventory_sha256="ab" * 32,
        settings=SETTINGS,
        planned={"delete": 2},
        resumed_from=resumed,
        command="run",
    )


def disp(run: str, peer: str, vif: str = V1, attempt: int = 1) -> dict[str, Any]:
    return audit.dispatch(run, TS, peer_id=peer, vif_id=vif, attempt=attempt)


def resp(run: str, peer: str) -> dict[str, Any]:
    return audit.response(
        run,
        TS,
        peer_id=peer,
        vif_id=V1,
        attempt=1,
        status=500,
        error_code=None,
        error_msg=None,
        request_id=None,
        elapsed_ms=3.0,
        action=Action.RETRY,
        retry_in_s=1.0,
    )


def fin(run: str, peer: str, outcome: Outcome, vif: str | None = V1) -> dict[str, Any]:
    return audit.final(
        run, TS, peer_id=peer, vif_id=vif, outcome=outcome, reason=f"r-{outcome}", attempts=1
    )


def end(run: str, stop: StopReason = StopReason.COMPLETED, code: int = 0) -> dict[str, Any]:
    return audit.run_finished(
        run, TS, counts={"deleted": 1}, duration_s=2.0, exit_code=code, stop_reason=stop
    )


def test_run_summaries_finished_and_crashed() -> None:
    """Runs are summarised in log order; a run without run_finished has finished=None."""
    state = fold(
        [
            start("r1"),
            disp("r1", P1),
            resp("r1", P1),
            fin("r1", P1, Outcome.DELETED),
            fin("r1", P2, Outcome.GONE, None),
            end("r1"),
            start("r2", ["r1"]),
            disp("r2", P3, V2),
        ]
    )
    r1, r2 = state.runs
    assert r1.run == "r1"
    assert r1.started == TS
    assert r1.finished == TS
    assert r1.stop_reason is StopReason.COMPLETED
    assert r1.exit_code == 0
    assert r1.counts == {"deleted": 1}
    assert r1.duration_s == 2.0
    assert r1.settings == SETTINGS
    assert (r1.project_id, r1.endpoint, r1.inventory) == ("proj", "https://dc.example", "peers.csv")
    assert r1.resumed_from is None
    assert r1.final_counts == {"deleted": 1, "gone": 1}
    assert r1.unfinished == 0
    assert r1.started_record is not None
    assert r1.started_record["command"] == "run"
    assert r2.resumed_from == ("r1",)
    assert r2.finished is None
    assert r2.stop_reason is None
    assert r2.counts == {}
    assert r2.unfinished == 1
    assert state.latest_final == {
        P1: LatestFinal(Outcome.DELETED, "r-deleted", "r1", V1),
        P2: LatestFinal(Outcome.GONE, "r-gone", "r1", None),
    }
    assert state.dispatched_unfinished == {P3: V2}


def test_run_without_its_started_line_is_still_summarised() -> None:
    """Records of a run whose run_started line was lost still produce a summary."""
    state = fold([disp("r9", P1), fin("r9", P1, Outcome.FAILED)])
    (run,) = state.runs
    assert run.run == "r9"
    assert run.started is None
    assert run.settings == {}
    assert run.final_counts == {"failed": 1}


def test_failed_then_deleted_is_skipped_not_replayed() -> None:
    """The latest final wins: failed in run 1, deleted in run 2 means done."""
    state = fold(
        [
            disp("r1", P1),
            fin("r1", P1, Outcome.FAILED),
            disp("r2", P1),
            fin("r2", P1, Outcome.DELETED),
        ]
    )
    assert peers_to_skip(state) == {P1: "deleted in run r2"}
    assert peers_to_replay(state) == []


def test_failed_then_crashed_dispatch_is_replayed() -> None:
    """Failed in run 1, dispatched in run 2 that crashed: replayed with the dispatch's VIF."""
    state = fold(
        [
            disp("r1", P1),
            fin("r1", P1, Outcome.FAILED),
            start("r2"),
            disp("r2", P1, V2),
        ]
    )
    assert state.dispatched_unfinished == {P1: V2}
    assert state.latest_final[P1].outcome is Outcome.FAILED
    assert peers_to_replay(state) == [(P1, V2)]
    assert peers_to_replay(state, frozenset()) == [(P1, V2)]  # crash case ignores --only
    assert peers_to_skip(state) == {}
    assert [r.unfinished for r in state.runs] == [0, 1]


def test_crashed_dispatch_then_final_in_later_run_is_finished() -> None:
    """A dispatch left open by a crash is closed by a later run's final for that peer."""
    state = fold(
        [
            disp("r1", P1),
            disp("r1", P2),
            fin("r1", P2, Outcome.DELETED),
            fin("r2", P1, Outcome.GONE),
            disp("r2", P2),
        ]
    )
    assert state.dispatched_unfinished == {P2: V1}
    assert peers_to_skip(state) == {P1: "gone in run r2", P2: "deleted in run r1"}
    assert [r.unfinished for r in state.runs] == [1, 1]


def test_peers_keep_their_first_appearance_order_across_redispatches() -> None:
    """Every per-peer view lists peers in order of first appearance, whatever came later."""
    state = fold(
        [
            disp("r1", P1),
            disp("r1", P2),
            fin("r1", P3, Outcome.DELETED),
            fin("r1", P2, Outcome.FAILED),
            fin("r1", P1, Outcome.FAILED),
            disp("r2", P2),
            disp("r2", P1),
            fin("r2", P3, Outcome.SKIPPED),
        ]
    )
    assert state.peer_order == (P1, P2, P3)
    assert list(state.latest_final) == [P1, P2, P3]
    assert list(state.dispatched_unfinished) == [P1, P2]
    assert peers_to_replay(state) == [(P1, V1), (P2, V1)]
    assert state.latest_final[P3] == LatestFinal(Outcome.DELETED, "r-deleted", "r1", V1)


def test_a_dispatch_alone_gives_no_latest_final_but_a_place_in_order() -> None:
    """A peer only ever dispatched is unfinished, in peer_order, and not in latest_final."""
    state = fold([fin("r1", P2, Outcome.DEFERRED), disp("r1", P1)])
    assert state.latest_final == {P2: LatestFinal(Outcome.DEFERRED, "r-deferred", "r1", V1)}
    assert state.peer_order == (P2, P1)
    assert peers_to_replay(state) == [(P2, V1), (P1, V1)]


def test_retries_in_one_run_are_one_unfinished_peer() -> None:
    """Several dispatch attempts of one peer in one crashed run count once."""
    state = fold([disp("r1", P1, attempt=1), disp("r1", P1, attempt=2), disp("r1", P1, attempt=3)])
    assert state.runs[0].unfinished == 1
    assert state.dispatched_unfinished == {P1: V1}


def test_skipped_and_would_delete_do_not_hide_earlier_finals() -> None:
    """`skipped` keeps pointing at the deletion; a dry run does not hide a failure."""
    state = fold(
        [
            fin("r1", P1, Outcome.DELETED),
            fin("r1", P2, Outcome.FAILED),
            fin("r2", P1, Outcome.SKIPPED),
            fin("r3", P2, Outcome.WOULD_DELETE),
            fin("r3", P3, Outcome.WOULD_DELETE),
        ]
    )
    assert peers_to_skip(state) == {P1: "deleted in run r1"}
    assert peers_to_replay(state) == [(P2, V1)]
    assert state.latest_final[P3].outcome is Outcome.WOULD_DELETE


def test_replay_order_is_first_appearance_and_only_filters() -> None:
    """Replay lists peers in the order they first appear, filtered by --only."""
    state = fold(
        [
            fin("r1", P3, Outcome.DEFERRED),
            disp("r1", P2),
            fin("r1", P1, Outcome.UNKNOWN),
            fin("r1", P2, Outcome.FAILED),
            fin("r2", P3, Outcome.FAILED),
        ]
    )
    assert peers_to_replay(state) == [(P3, V1), (P2, V1), (P1, V1)]
    assert peers_to_replay(state, frozenset({Outcome.FAILED})) == [(P3, V1), (P2, V1)]
    assert state.peer_order == (P3, P2, P1)
    assert {Outcome.FAILED, Outcome.DEFERRED, Outcome.UNKNOWN} == DEFAULT_REPLAY


def test_protected_and_invalid_are_neither_skipped_nor_replayed() -> None:
    """Peers that need an operator (protected, invalid) are left alone by both helpers."""
    state = fold([fin("r1", P1, Outcome.PROTECTED), fin("r1", P2, Outcome.INVALID, None)])
    assert peers_to_skip(state) == {}
    assert peers_to_replay(state) == []


def test_unknown_events_are_ignored_and_unknown_outcomes_refused() -> None:
    """Forward-compatible events pass; an outcome this version cannot name is an error."""
    note = {"v": 1, "ts": TS, "run": "r1", "event": "note"}
    assert fold([note]).latest_final == {}
    bad = {**fin("r1", P1, Outcome.FAILED), "outcome": "vanished"}
    with pytest.raises(AuditError, match="unknown outcome 'vanished'"):
        fold([bad])


def test_fold_reads_what_the_writer_wrote(tmp_path: Path) -> None:
    """End to end: write two runs (one crashed mid-line), read, fold."""
    path = tmp_path / "a.jsonl"
    with audit.AuditWriter.open(path) as w:
        w.write_many([start("r1"), disp("r1", P1), fin("r1", P1, Outcome.FAILED), end("r1")])
        w.write(disp("r1", P2))
    with path.open("ab") as fh:
        fh.write(audit.encode(fin("r1", P2, Outcome.DELETED))[:20])  # torn by a crash
    with audit.AuditWriter.open(path) as w:
        w.write_many([start("r2", ["r1"]), fin("r2", P3, Outcome.DEFERRED)])
    state = fold(audit.read_audit(path).records)
    assert peers_to_replay(state) == [(P1, V1), (P2, V1), (P3, V1)]
    assert [r.run for r in state.runs] == ["r1", "r2"]


# --- model-based property -------------------------------------------------------------------

_events = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "r3"]),
        st.sampled_from([P1, P2, P3]),
        st.sampled_from(["dispatch", *Outcome]),
        st.sampled_from([V1, V2]),
    ),
    max_size=30,
)


def _model(
    events: list[tuple[str, str, str, str]],
) -> tuple[dict[str, str], list[Any], dict[str, int]]:
    """Reference semantics, written the slow and obvious way: one history per peer."""
    history: dict[str, list[tuple[str, str, str]]] = {}
    last_in_run: dict[tuple[str, str], str] = {}
    for run, peer, kind, vif in events:
        history.setdefault(peer, []).append((run, kind, vif))
        last_in_run[peer, run] = kind
    skip: dict[str, str] = {}
    replay = []
    for peer, items in history.items():
        finals = [(k, v) for _, k, v in items if k != "dispatch"]
        active = [f for f in finals if f[0] not in {"skipped", "would_delete"}]
        latest = (active or finals)[-1] if finals else None
        _, last_kind, last_vif = items[-1]
        if latest and latest[0] in {"deleted", "gone"}:
            skip[peer] = latest[0]
        if last_kind == "dispatch":
            replay.append((peer, last_vif))
        elif latest and latest[0] in DEFAULT_REPLAY:
            replay.append((peer, latest[1]))
    unfinished: dict[str, int] = {}
    for (_, run), kind in last_in_run.items():
        unfinished[run] = unfinished.get(run, 0) + (kind == "dispatch")
    return skip, replay, unfinished


@given(_events)
def test_fold_matches_reference_model(events: list[tuple[str, str, str, str]]) -> None:
    """For any interleaving of dispatches and finals, skip/replay match the simple model."""
    # Runs never interleave in a log (one writer at a time): order records by run.
    events = sorted(events, key=lambda e: e[0])
    records = [
        disp(run, peer, vif) if kind == "dispatch" else fin(run, peer, Outcome(kind), vif)
        for run, peer, kind, vif in events
    ]
    state = fold(records)
    skip, replay, unfinished = _model(events)
    assert {p: r.split(" ")[0] for p, r in peers_to_skip(state).items()} == skip
    assert peers_to_replay(state) == replay
    assert {r.run: r.unfinished for r in state.runs} == unfinished


def test_rows_of_keeps_what_the_fold_reads() -> None:
    """Rows carry a dispatch's or final's fields, other records whole, and no responses."""
    from bulkdel.fold import fold_rows, rows_of

    other = {"v": 1, "ts": TS, "run": "r1", "event": "from_a_newer_writer"}
    records = [start("r1"), disp("r1", P1), resp("r1", P1), fin("r1", P1, Outcome.FAILED, None)]
    rows = list(rows_of([*records, other]))
    assert rows[1] == ("r1", "dispatch", "", P1, V1, "", None, None, "")
    assert rows[2] == ("r1", "", "final", P1, None, "", "failed", "r-failed", "")
    assert rows[3][-1] is other
    assert len(rows) == 4
    assert fold_rows(rows) == fold([*records, other])
    # The reader's form of a JSON null vif_id: the "null" flag, whatever the vif_id slot holds.
    nulled = fold_rows([("r1", "", "final", P1, "", "null", "failed", "x", "")])
    assert nulled.latest_final[P1] == LatestFinal(Outcome.FAILED, "x", "r1", None)
