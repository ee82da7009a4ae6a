"""Tests for bulkdel.audit: records, timestamps, encoding, reading and the writer."""

from __future__ import annotations

import json
import os
import random
import re
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel import audit, auditread
from bulkdel.clock import FakeClock
from bulkdel.errors import AuditError
from bulkdel.models import Action, Outcome, StopReason

RUN = "20261203T010203Z-a1b2c3"
TS = "2026-12-03T01:02:03.456Z"
PEER = "0b3f0b3f-0b3f-4b3f-8b3f-0b3f0b3f0b3f"
VIF = "1c4e1c4e-1c4e-4c4e-8c4e-1c4e1c4e1c4e"
SETTINGS = {"rate": 10, "burst": 1, "concurrency": 8, "per_interface": 1, "max_attempts": 5}
HEAD = ["v", "ts", "run", "event"]


def started(**extra: Any) -> dict[str, Any]:
    return audit.run_started(
        RUN,
        TS,
        version="0.1.0",
        project_id="p1",
        endpoint="https://dc.example",
        inventory="peers.csv",
        inventory_sha256="ab" * 32,
        settings=SETTINGS,
        planned={"delete": 3},
        resumed_from=None,
        **extra,
    )


def disp(peer: str = PEER, attempt: int = 1) -> dict[str, Any]:
    return audit.dispatch(RUN, TS, peer_id=peer, vif_id=VIF, attempt=attempt)


def resp(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "peer_id": PEER,
        "vif_id": VIF,
        "attempt": 1,
        "status": 204,
        "error_code": None,
        "error_msg": None,
        "request_id": "r-1",
        "elapsed_ms": 12.5,
        "action": Action.DONE,
        "retry_in_s": None,
    }
    args.update(kw)
    return audit.response(RUN, TS, **args)


def fin(peer: str = PEER) -> dict[str, Any]:
    return audit.final(
        RUN, TS, peer_id=peer, vif_id=VIF, outcome=Outcome.DELETED, reason="", attempts=1
    )


def finished() -> dict[str, Any]:
    return audit.run_finished(
        RUN,
        TS,
        counts={Outcome.DELETED: 3},
        duration_s=1.5,
        exit_code=0,
        stop_reason=StopReason.COMPLETED,
    )


# --- records ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "fields"),
    [
        (
            started(),
            "version project_id endpoint inventory inventory_sha256 settings planned resumed_from",
        ),
        (disp(), "peer_id vif_id attempt"),
        (
            resp(),
            "peer_id vif_id attempt status error_code error_msg request_id elapsed_ms action "
            "retry_in_s",
        ),
        (fin(), "peer_id vif_id outcome reason attempts"),
        (finished(), "counts duration_s exit_code stop_reason"),
    ],
)
def test_builders_produce_exactly_the_design_fields(record: dict[str, Any], fields: str) -> None:
    """Each builder emits the head fields first, then exactly DESIGN's field set."""
    assert list(record)[:4] == HEAD
    assert record["v"] == 1
    assert set(record) == set(HEAD) | set(fields.split())
    assert audit.EVENT_FIELDS[record["event"]] == set(record)


def test_builders_store_plain_strings_for_vocabularies() -> None:
    """Enums become their plain string values, so records compare equal after decoding."""
    assert type(resp()["action"]) is str
    assert type(fin()["outcome"]) is str
    rec = finished()
    assert type(rec["stop_reason"]) is str
    assert [type(k) for k in rec["counts"]] == [str]


def test_builders_reject_unknown_vocabulary() -> None:
    """A string that is not an Outcome is refused when the record is built."""
    with pytest.raises(ValueError, match="bogus"):
        audit.final(RUN, TS, peer_id=PEER, vif_id=VIF, outcome="bogus", reason="", attempts=1)  # type: ignore[arg-type]


def test_run_started_requires_contract_settings() -> None:
    """run_started refuses settings missing a key the contract promises."""
    with pytest.raises(ValueError, match="max_attempts"):
        audit.run_started(
            RUN,
            TS,
            version="0",
            project_id="p",
            endpoint="e",
            inventory=None,
            inventory_sha256=None,
            settings={"rate": 1, "burst": 1, "concurrency": 1, "per_interface": 1},
            planned={},
            resumed_from=None,
        )


def test_extra_fields_follow_and_cannot_overwrite_schema_fields() -> None:
    """Extra fields are appended; one named like a schema field is refused."""
    rec = started(plan_sha256="cd" * 32, command="run")
    assert list(rec)[-2:] == ["plan_sha256", "command"]
    with pytest.raises(ValueError, match="'v'"):
        audit.dispatch(RUN, TS, peer_id=PEER, vif_id=VIF, attempt=1, v=2)


def test_response_caps_server_text() -> None:
    """A megabyte error message from a hostile server is cut to 500 characters."""
    rec = resp(error_msg="x" * 1_000_000, error_code="C" * 1000, request_id="r" * 1000)
    assert len(rec["error_msg"]) == audit.MAX_ERROR_MSG
    assert rec["error_msg"].endswith("…")
    assert len(rec["error_code"]) == audit.MAX_SERVER_TOKEN
    assert len(rec["request_id"]) == audit.MAX_SERVER_TOKEN
    assert resp(error_msg="short")["error_msg"] == "short"


def test_builders_format_datetime_timestamps() -> None:
    """A datetime ts is formatted; a preformatted string is kept."""
    dt = datetime(2026, 12, 3, 1, 2, 3, 456789, tzinfo=UTC)
    assert audit.dispatch(RUN, dt, peer_id=PEER, vif_id=VIF, attempt=1)["ts"] == TS


# --- time and identity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (datetime(2026, 12, 3, 1, 2, 3, 456000, tzinfo=UTC), "2026-12-03T01:02:03.456Z"),
        (datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC), "2026-12-03T01:02:03.000Z"),
        (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2026-12-31T23:59:59.999Z"),
        (datetime(2026, 12, 3, 1, 2, 3, 456999, tzinfo=UTC), "2026-12-03T01:02:03.456Z"),
        (
            datetime(2026, 12, 3, 2, 2, 3, 1000, tzinfo=timezone(timedelta(hours=1))),
            "2026-12-03T01:02:03.001Z",
        ),
        (
            datetime(2026, 12, 2, 20, 32, 3, 0, tzinfo=timezone(timedelta(hours=-4, minutes=-30))),
            "2026-12-03T01:02:03.000Z",
        ),
    ],
)
def test_format_ts_examples(dt: datetime, text: str) -> None:
    """UTC, exactly milliseconds (truncated, never rounded up), `Z`."""
    assert audit.format_ts(dt) == text


def test_format_ts_rejects_naive() -> None:
    """A naive datetime has no defined instant and is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        audit.format_ts(datetime(2026, 1, 1))


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_ts_shape_and_truncation(dt: datetime) -> None:
    """Every timestamp matches the contract's shape and parses back to dt truncated to ms."""
    text = audit.format_ts(dt)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    back = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert back == dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def test_new_run_id_shape_sorts_and_accepts_bytes() -> None:
    """Run IDs read as UTC start times plus 6 hex digits and sort by time."""
    rng = random.Random(7)
    a = audit.new_run_id(datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC), rng)
    b = audit.new_run_id(datetime(2026, 12, 3, 2, 2, 4, tzinfo=timezone(timedelta(hours=1))), rng)
    assert re.fullmatch(r"20261203T010203Z-[0-9a-f]{6}", a)
    assert b.startswith("20261203T010204Z-")
    assert a < b
    now = datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC)
    assert audit.new_run_id(now, b"\xa1\xb2\xc3\xff") == "20261203T010203Z-a1b2c3"
    with pytest.raises(ValueError, match="3 random bytes"):
        audit.new_run_id(now, b"\x00")


# --- encoding -------------------------------------------------------------------------------


def test_encode_is_one_compact_utf8_line() -> None:
    """Compact separators, raw UTF-8 (not \\u escapes), one trailing newline."""
    line = audit.encode(resp(error_msg="Schnittstelle gelöscht"))
    assert line.endswith(b"}\n")
    assert line.count(b"\n") == 1
    assert b'"v":1,"ts":' in line
    assert b", " not in line
    assert "gelöscht".encode() in line


def test_encode_refuses_nan() -> None:
    """NaN is not JSON; encoding it is an AuditError rather than a corrupt line."""
    with pytest.raises(AuditError, match="response"):
        audit.encode(resp(elapsed_ms=float("nan")))


def test_encode_keeps_lone_surrogates_round_trippable() -> None:
    """A lone surrogate (from a server's JSON escape) still encodes and decodes back."""
    rec = resp(error_msg="bad \ud800 text")
    line = audit.encode(rec)
    line.decode("utf-8")  # valid UTF-8
    assert audit.decode_lines([line]).records == (rec,)


_text = st.text(max_size=40)
_opt_text = st.none() | _text
_num = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    run = draw(_text)
    ts = draw(st.datetimes(timezones=st.just(UTC)))
    peer, vif = draw(_text), draw(_opt_text)
    kind = draw(st.sampled_from(["started", "dispatch", "response", "final", "finished"]))
    if kind == "dispatch":
        return audit.dispatch(run, ts, peer_id=peer, vif_id=vif, attempt=draw(st.integers()))
    if kind == "response":
        return audit.response(
            run,
            ts,
            peer_id=peer,
            vif_id=vif,
            attempt=draw(st.integers(0, 10)),
            status=draw(st.none() | st.integers(100, 599)),
            error_code=draw(_opt_text),
            error_msg=draw(st.none() | st.text(max_size=700)),
            request_id=draw(_opt_text),
            elapsed_ms=draw(st.none() | _num),
            action=draw(st.sampled_from(Action)),
            retry_in_s=draw(st.none() | _num),
        )
    if kind == "final":
        return audit.final(
            run,
            ts,
            peer_id=peer,
            vif_id=vif,
            outcome=draw(st.sampled_from(Outcome)),
            reason=draw(_text),
            attempts=draw(st.integers(0, 10)),
        )
    if kind == "finished":
        return audit.run_finished(
            run,
            ts,
            counts=draw(st.dictionaries(st.sampled_from(Outcome), st.integers(0, 10**6))),
            duration_s=draw(_num),
            exit_code=draw(st.integers(0, 4)),
            stop_reason=draw(st.sampled_from(StopReason)),
        )
    return audit.run_started(
        run,
        ts,
        version=draw(_text),
        project_id=draw(_text),
        endpoint=draw(_text),
        inventory=draw(_opt_text),
        inventory_sha256=draw(_opt_text),
        settings={**SETTINGS, "tz": draw(_text)},
        planned=draw(st.dictionaries(_text, st.integers(0, 10**6))),
        resumed_from=draw(st.none() | st.lists(_text, max_size=3)),
    )


@given(st.lists(records(), max_size=8))
def test_encode_decode_round_trip(recs: list[dict[str, Any]]) -> None:
    """Whatever the builders make, decoding its encoding gives it back, one line each."""
    lines = [audit.encode(r) for r in recs]
    assert all(line.count(b"\n") == 1 for line in lines)
    got = audit.decode_lines(lines)
    assert got == audit.AuditRead(tuple(recs))


# --- reading --------------------------------------------------------------------------------


def test_torn_last_line_is_tolerated_and_reported() -> None:
    """A partial final line (a crash mid-write) is skipped and flagged as a torn tail."""
    good = [audit.encode(disp()), audit.encode(fin())]
    torn = audit.encode(finished())[:30]
    got = audit.decode_lines([*good, torn])
    assert got.records == (disp(), fin())
    assert got.torn_tail
    assert got.bad_lines == (3,)


def test_nul_padding_after_power_loss_is_a_torn_tail() -> None:
    """NUL bytes left by a power loss count as a torn line, not as foreign content."""
    got = audit.decode_lines([audit.encode(disp()), b"\x00" * 50])
    assert got.records == (disp(),)
    assert got.torn_tail


def test_torn_line_mid_file_is_skipped_not_fatal() -> None:
    """A torn line followed by later records (crash, then a new run) is skipped and reported."""
    torn = audit.encode(fin())[:40] + b"\n"
    got = audit.decode_lines([audit.encode(disp()), torn, b"\n", audit.encode(started())])
    assert got.records == (disp(), started())
    assert not got.torn_tail
    assert got.bad_lines == (2,)


def test_foreign_line_raises_naming_the_line() -> None:
    """Text that is not a torn record means this is not our file: AuditError with line."""
    with pytest.raises(AuditError, match=r"a\.jsonl:2: not a bulkdel audit record"):
        audit.decode_lines([audit.encode(disp()), b"peer_id,vif_id\n"], source="a.jsonl")
    with pytest.raises(AuditError, match=":1: not a bulkdel audit record"):
        audit.decode_lines([b'"0b3f0b3f-0b3f-4b3f-8b3f-0b3f0b3f0b3f"\n'])


def test_unknown_schema_version_raises() -> None:
    """A record from another schema version is refused, not misread."""
    line = audit.encode({**disp(), "v": 2})
    with pytest.raises(AuditError, match="v=2"):
        audit.decode_lines([audit.encode(disp()), line])


def test_record_missing_fields_raises() -> None:
    """A known event without its fields is refused with the missing names."""
    rec = disp()
    del rec["attempt"]
    with pytest.raises(AuditError, match=":1: 'dispatch' record lacks attempt"):
        audit.decode_lines([audit.encode(rec)])


def test_unknown_event_passes_through() -> None:
    """An event this version does not know is kept (fold ignores it)."""
    rec = {"v": 1, "ts": TS, "run": RUN, "event": "note", "text": "hi"}
    assert audit.decode_lines([audit.encode(rec)]).records == (rec,)


def test_line_numbers_are_right_across_chunks() -> None:
    """Line numbers stay exact past the decoder's internal chunk size."""
    n = auditread._CHUNK + 10
    lines = [audit.encode(disp(attempt=i)) for i in range(n)]
    lines[n - 3] = lines[n - 3][:20] + b"\n"
    got = audit.decode_lines(lines)
    assert got.bad_lines == (n - 2,)
    assert [r["attempt"] for r in got.records] == [i for i in range(n) if i != n - 3]
    lines[n - 3] = b"garbage\n"
    with pytest.raises(AuditError, match=f":{n - 2}:"):
        audit.decode_lines(lines)


def test_iter_records_reports_after_exhaustion() -> None:
    """The streaming reader fills its report as it goes."""
    report = audit.ReadReport()
    lines = [audit.encode(disp()), b'{"v":1,"ts']
    assert list(audit.iter_records(lines, report=report)) == [disp()]
    assert report.torn_tail
    assert report.bad_lines == [2]


def test_read_audit_missing_file(tmp_path: Path) -> None:
    """A missing log is an AuditError that names it."""
    with pytest.raises(AuditError, match=r"cannot read audit log .*nope"):
        audit.read_audit(tmp_path / "nope")
    with pytest.raises(AuditError, match=r"cannot read audit log .*nope"):
        audit.iter_audit(tmp_path / "nope")


_odd_lines = st.sampled_from(
    [b"\n", b"  \n", b'{"v":1,"ts"\n', b"\x00\x00\x00\n", b"\r\n", audit.encode(disp())[:-1]]
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.builds(audit.encode, records()), _odd_lines), min_size=1, max_size=40),
    st.sampled_from([8, 64, 300, 64 << 10]),
    st.booleans(),
)
def test_iter_audit_reads_what_decode_lines_reads(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    block: int,
    torn_end: bool,
) -> None:
    """Block by block, any mix of records, blanks and torn lines reads as line by line does."""
    data = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    if torn_end:
        data += audit.encode(fin())[:25]
    path = tmp_path_factory.mktemp("log") / "a.jsonl"
    path.write_bytes(data)
    want = audit.decode_lines(data.splitlines(keepends=True))
    report = audit.ReadReport()
    old, auditread._BLOCK_BYTES = auditread._BLOCK_BYTES, block
    try:
        got = list(audit.iter_audit(path, report=report))
        without = list(audit.iter_audit(path, responses=False))
    finally:
        auditread._BLOCK_BYTES = old
    assert tuple(got) == want.records
    assert (report.torn_tail, tuple(report.bad_lines)) == (want.torn_tail, want.bad_lines)
    assert audit.read_audit(path) == want
    # Left out or not, responses are the only difference.
    assert [r for r in without if r["event"] != "response"] == [
        r for r in got if r["event"] != "response"
    ]


def test_iter_audit_can_leave_responses_undecoded(tmp_path: Path) -> None:
    """Writer-made response lines are skipped; a response laid out otherwise is still read."""
    odd = {"v": 1, "run": RUN, "ts": TS, **{k: v for k, v in resp().items() if k not in HEAD}}
    odd["event"] = "response"
    path = tmp_path / "a.jsonl"
    recs = [started(), disp(), resp(), fin(), finished()]
    path.write_bytes(b"".join(audit.encode(r) for r in [*recs, odd]))
    assert list(audit.iter_audit(path, responses=False)) == [
        started(),
        disp(),
        fin(),
        finished(),
        odd,
    ]
    assert list(audit.iter_audit(path)) == [*recs, odd]


def test_iter_audit_names_the_line_of_a_bad_record_in_a_block(tmp_path: Path) -> None:
    """A record lacking fields deep inside a block is reported with its own line number."""
    rec = disp()
    del rec["attempt"]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join([audit.encode(disp())] * 5 + [audit.encode(rec)]))
    with pytest.raises(AuditError, match=":6: 'dispatch' record lacks attempt"):
        list(audit.iter_audit(path))
    with pytest.raises(AuditError, match=":6: 'dispatch' record lacks attempt"):
        list(audit.iter_audit(path, responses=False))


# --- writer ---------------------------------------------------------------------------------


class Syncs:
    """A fake fsync that counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1


def open_writer(path: Path, policy: audit.FsyncPolicy = audit.FsyncPolicy.BATCH, **kw: Any):
    return audit.AuditWriter.open(path, fsync=policy, **kw)


def test_new_log_is_created_0600(tmp_path: Path) -> None:
    """The audit log and its lock sidecar are private to the user."""
    path = tmp_path / "a.jsonl"
    with open_writer(path) as w:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(w.sidecar.stat().st_mode) == 0o600
        assert w.mode_warning is None


def test_appends_and_never_truncates(tmp_path: Path) -> None:
    """Two runs one after the other both leave their records."""
    path = tmp_path / "a.jsonl"
    with open_writer(path) as w:
        w.write(started())
        w.write(disp())
    with open_writer(path) as w:
        w.write_many([fin(), finished()])
    assert audit.read_audit(path) == audit.AuditRead((started(), disp(), fin(), finished()))


def test_second_open_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    """A concurrent writer (even in this process) is refused with the holder's pid."""
    path = tmp_path / "a.jsonl"
    with open_writer(path) as w:
        w.write(disp())
        with pytest.raises(AuditError, match=rf"in use by another bulkdel run \(pid {os.getpid()}"):
            open_writer(path)
        w.write(fin())  # the refused open did not disturb the holder
    assert audit.read_audit(path).records == (disp(), fin())
    open_writer(path).close()  # released on close


def test_clean_close_removes_sidecar_and_stale_one_is_reported(tmp_path: Path) -> None:
    """A sidecar left by a crashed run is reported on the next open; clean close removes it."""
    path = tmp_path / "a.jsonl"
    with open_writer(path) as w:
        assert w.stale_lock is None
        assert w.stale_lock_info is None
        assert w.sidecar.exists()
    assert not w.sidecar.exists()
    crash = {"pid": 4242, "host": "db1", "started": TS}
    w.sidecar.write_text(json.dumps(crash))
    with open_writer(path) as w:
        assert w.stale_lock == audit.LockInfo(4242, "db1", TS)
        assert w.stale_lock_info is not None
        assert "pid 4242 on host db1" in w.stale_lock_info
        assert "bulkdel replay" in w.stale_lock_info
        assert json.loads(w.sidecar.read_text())["pid"] == os.getpid()


def test_unreadable_stale_sidecar_still_reported(tmp_path: Path) -> None:
    """A garbled sidecar still counts as a crashed run, with the pid unknown."""
    path = tmp_path / "a.jsonl"
    Path(str(path) + ".lock").write_text("{garbage")
    with open_writer(path) as w:
        assert w.stale_lock == audit.LockInfo(None, None, None)
        assert "pid unknown" in (w.stale_lock_info or "")


def test_broader_existing_mode_is_kept_and_warned(tmp_path: Path) -> None:
    """An operator's chmod is respected, but the writer says what to do about it."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"")
    path.chmod(0o644)
    with open_writer(path) as w:
        assert w.mode_warning is not None
        assert "chmod 600" in w.mode_warning
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_torn_tail_is_repaired_before_appending(tmp_path: Path) -> None:
    """After a crash mid-line, the next record starts on a fresh line and both survive."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(audit.encode(disp()) + audit.encode(fin())[:25])
    with open_writer(path) as w:
        assert w.repaired_torn_tail
        w.write(started())
    got = audit.read_audit(path)
    assert got.records == (disp(), started())
    assert got.bad_lines == (2,)
    assert not got.torn_tail
    with open_writer(path) as w:
        assert not w.repaired_torn_tail


def test_open_errors_are_audit_errors(tmp_path: Path) -> None:
    """A missing directory or a non-file path is an AuditError saying what to check."""
    with pytest.raises(AuditError, match="directory exists"):
        open_writer(tmp_path / "missing" / "a.jsonl")
    with pytest.raises(AuditError, match=r"cannot open|not a regular file"):
        open_writer(tmp_path)


def test_fsync_always_syncs_every_write(tmp_path: Path) -> None:
    """Policy `always` fsyncs after every write and write_many."""
    syncs = Syncs()
    with open_writer(tmp_path / "a", audit.FsyncPolicy.ALWAYS, fsync_fn=syncs) as w:
        w.write(disp())
        w.write(fin())
        w.write_many([disp(), fin()])
        w.write_many([])
        w.maybe_fsync()
        assert syncs.calls == 3
    assert syncs.calls == 3  # nothing left to sync at close


def test_fsync_batch_syncs_at_most_once_a_second(tmp_path: Path) -> None:
    """Policy `batch` fsyncs on writes a second apart, on the ticker if dirty, and at close."""
    syncs, clock = Syncs(), FakeClock()
    w = open_writer(tmp_path / "a", audit.FsyncPolicy.BATCH, fsync_fn=syncs, clock=clock)
    for _ in range(100):
        w.write(disp())
        clock.advance(0.005)
    assert syncs.calls == 0
    clock.advance(0.6)
    w.write_many([disp(), fin()])
    assert syncs.calls == 1
    w.maybe_fsync()
    assert syncs.calls == 1  # clean: nothing to sync
    w.write(fin())
    w.maybe_fsync()
    assert syncs.calls == 2  # the ticker syncs what the write left dirty
    w.write(fin())
    w.close()
    assert syncs.calls == 3
    w.close()
    assert syncs.calls == 3


def test_fsync_never_does_not_sync_even_at_close(tmp_path: Path) -> None:
    """Policy `never` leaves durability to the kernel."""
    syncs, clock = Syncs(), FakeClock()
    with open_writer(tmp_path / "a", audit.FsyncPolicy.NEVER, fsync_fn=syncs, clock=clock) as w:
        w.write(disp())
        clock.advance(5)
        w.write(fin())
        w.maybe_fsync()
    assert syncs.calls == 0


def test_write_after_close_is_refused(tmp_path: Path) -> None:
    """Writing to a closed writer is an error, never a silent loss."""
    w = open_writer(tmp_path / "a")
    w.close()
    assert w.closed
    with pytest.raises(AuditError, match="closed"):
        w.write(disp())
