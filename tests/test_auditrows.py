"""Tests for bulkdel.auditrows: an audit log read straight into fold rows, as iter_audit would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel import audit, auditread, auditrows
from bulkdel.errors import AuditError
from bulkdel.fold import AuditState, fold, fold_rows
from bulkdel.models import Action, Outcome, StopReason

RUN = "20261203T010203Z-a1b2c3"
TS = "2026-12-03T01:02:03.456Z"
PEER = "0b3f0b3f-0b3f-4b3f-8b3f-0b3f0b3f0b3f"
VIF = "1c4e1c4e-1c4e-4c4e-8c4e-1c4e1c4e1c4e"
SETTINGS = {"rate": 10, "burst": 1, "concurrency": 8, "per_interface": 1, "max_attempts": 5}


def started(run: str = RUN) -> dict[str, Any]:
    return audit.run_started(
        run,
        TS,
        version="0.1.0",
        project_id="p1",
        endpoint="https://dc.example",
        inventory="peers.csv",
        inventory_sha256="ab" * 32,
        settings=SETTINGS,
        planned={"delete": 3},
        resumed_from=None,
    )


def disp(peer: str = PEER, vif: str | None = VIF, run: str = RUN) -> dict[str, Any]:
    return audit.dispatch(run, TS, peer_id=peer, vif_id=vif, attempt=1)


def resp(peer: str = PEER, msg: str | None = None, run: str = RUN) -> dict[str, Any]:
    return audit.response(
        run,
        TS,
        peer_id=peer,
        vif_id=VIF,
        attempt=1,
        status=500,
        error_code="DC.0001",
        error_msg=msg,
        request_id="r-1",
        elapsed_ms=12.5,
        action=Action.RETRY,
        retry_in_s=1.0,
    )


def fin(
    peer: str = PEER,
    outcome: Outcome = Outcome.FAILED,
    reason: str = "500 DC.0001",
    vif: str | None = VIF,
    run: str = RUN,
) -> dict[str, Any]:
    return audit.final(
        run, TS, peer_id=peer, vif_id=vif, outcome=outcome, reason=reason, attempts=1
    )


def finished(run: str = RUN) -> dict[str, Any]:
    return audit.run_finished(
        run,
        TS,
        counts={Outcome.FAILED: 1},
        duration_s=1.5,
        exit_code=3,
        stop_reason=StopReason.COMPLETED,
    )


def lines(*records: dict[str, Any]) -> bytes:
    return b"".join(audit.encode(r) for r in records)


def both(path: Path) -> tuple[object, object]:
    """What the json way and the fast way make of a log: (state, report) or the error."""

    def attempt(read: Callable[[audit.ReadReport], AuditState]) -> object:
        report = audit.ReadReport()
        try:
            return read(report), report
        except Exception as exc:  # any difference at all is what is tested
            return type(exc), str(exc)

    slow = attempt(lambda report: fold(audit.iter_audit(path, report=report, responses=False)))
    fast = attempt(lambda report: auditrows.fold_audit(path, report=report))
    return slow, fast


def test_schema_matches_the_layout_read_fast() -> None:
    """The fields the expression checks are the ones the schema requires (else no fast path)."""
    assert auditrows.FAST


def test_block_rows_are_the_fold_rows_of_the_records() -> None:
    """Usual lines become the same rows as their decoded records, one row per line."""
    records = [
        disp(),
        resp(),
        fin(),
        disp("p-2", vif=None),
        fin("p-2", Outcome.DELETED, reason="204", vif=None),
    ]
    count, rows = auditrows.block_rows(lines(*records))
    assert count == 5
    assert rows is not None
    assert fold_rows(rows) == fold(records)
    assert rows[0] == (RUN, "dispatch", "", PEER, VIF, "", "", "", "")
    assert rows[1][:3] == (RUN, "", "")  # a response: no event the fold reads
    assert rows[4] == (RUN, "", "final", "p-2", "", "null", "deleted", "204", "")


@pytest.mark.parametrize(
    "line",
    [
        lines(started()),  # not a per-peer record
        lines(fin(reason='say "hi"')),  # an escape
        lines(fin()).replace(b"500", b"5\x0100"),  # a raw control character
        lines(resp())[:-2] + b',"event":"final"}\n',  # a second event key
        lines(disp()).replace(b'"attempt":1', b'"attempt":1.0'),  # a float
        lines(fin())[:-1] + b"\r\n",
        b"\n",
        b"\xff\n",
    ],
)
def test_unusual_lines_are_left_to_json(line: bytes) -> None:
    """A block with any line not laid out as the writer does gets no rows."""
    count, rows = auditrows.block_rows(lines(disp()) + line)
    assert rows is None
    assert count == 2


def test_fold_audit_equals_fold_of_iter_audit(tmp_path: Path) -> None:
    """Runs, finals, unfinished dispatches and torn lines come out as the json way has them."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        lines(started(), disp(), resp(), fin(), disp("p-2"), finished())
        + lines(started("r2"), disp(run="r2"))
        + b'{"v":1,"ts":"2026\n'
        + lines(fin("p-3", Outcome.DEFERRED, run="r2"))[:30]
    )
    slow, fast = both(path)
    assert fast == slow
    assert isinstance(fast, tuple)
    state, report = fast
    assert isinstance(state, AuditState)
    assert isinstance(report, audit.ReadReport)
    assert report.bad_lines == [9, 10]
    assert report.torn_tail
    assert state.dispatched_unfinished == {PEER: VIF, "p-2": VIF}  # PEER again in run r2


def test_fold_audit_raises_what_iter_audit_raises(tmp_path: Path) -> None:
    """A record lacking a field is the same AuditError, naming the same line."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(lines(disp(), fin()) + b'{"v":1,"ts":"x","run":"r","event":"final"}\n')
    slow, fast = both(path)
    assert fast == slow
    assert isinstance(fast, tuple)
    assert fast[0] is AuditError
    assert ":3:" in str(fast[1])


def test_fold_audit_of_a_missing_log(tmp_path: Path) -> None:
    """A log that cannot be opened fails at once, as iter_audit does."""
    with pytest.raises(AuditError, match="cannot read audit log"):
        auditrows.iter_rows(tmp_path / "nope")


_ALPHABET = st.sampled_from(['"', "\\", "\x01", "\x7f", "é", "\u2028", "event", "{", "a", "-"])
# Text the writer writes as it is (so whole blocks go the fast way), and text that it escapes
# or that json would refuse raw.
_PLAIN = st.sampled_from(["", "204", "r2", "é\x7f\u2028", "event", "{a"])
_ODD = st.lists(_ALPHABET, max_size=4).map("".join)


@st.composite
def _record(draw: st.DrawFn, odd: bool) -> dict[str, Any]:
    text = _PLAIN | _ODD if odd else _PLAIN
    run = draw(st.sampled_from([RUN, RUN, "r2"]) | text)
    peer = draw(st.sampled_from(["p-1", "p-2", "p-3"]) | text)
    vif = draw(st.sampled_from([VIF, None]) | text)
    kind = draw(st.sampled_from(["started", "finished", *["dispatch", "response", "final"] * 4]))
    if kind == "started":
        return started(run)
    if kind == "finished":
        return finished(run)
    if kind == "dispatch":
        return disp(peer, vif, run)
    if kind == "response":
        return resp(peer, draw(st.none() | text), run)
    return fin(peer, draw(st.sampled_from(Outcome)), draw(text), vif, run)


_DAMAGE: list[Callable[[bytes], bytes]] = [
    *[lambda line: line] * 8,
    lambda line: line[: len(line) // 2] + b"\n",  # torn
    lambda line: b"\x00" * len(line) + b"\n",  # lost to a power cut
    lambda line: b"\n",
    lambda line: line[:-1] + b"\r\n",
    lambda line: line[:-2] + b',"event":"final"}\n',
    lambda line: line[:-2] + b',"event":"response"}\n',
    lambda line: line.replace(b"1", b"\x1f", 1),
    lambda line: line.replace(b"p-", b"\xff", 1),
    lambda line: b"not json\n",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_record(odd=False), st.just(0)), max_size=30)
    | st.lists(st.tuples(_record(odd=True), st.sampled_from(range(len(_DAMAGE)))), max_size=30),
    st.sampled_from([16, 400, 64 << 10]),
    st.booleans(),
)
def test_fast_reading_is_the_json_reading(
    tmp_path_factory: pytest.TempPathFactory,
    entries: list[tuple[dict[str, Any], int]],
    block: int,
    cut_end: bool,
) -> None:
    """Any log, damaged or not, folds to the same state, report and errors either way."""
    data = b"".join(_DAMAGE[damage](audit.encode(rec)) for rec, damage in entries)
    if cut_end and data:
        data = data[:-1]
    path = tmp_path_factory.mktemp("log") / "a.jsonl"
    path.write_bytes(data)
    old, auditread._BLOCK_BYTES = auditread._BLOCK_BYTES, block
    try:
        slow, fast = both(path)
    finally:
        auditread._BLOCK_BYTES = old
    assert fast == slow
