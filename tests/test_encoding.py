"""Tests for bulkdel.encoding: the template path writes exactly what the JSON encoder would."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkdel import audit
from bulkdel.encoding import encode, encode_generic, format_ts, format_ts_ms
from bulkdel.errors import AuditError
from bulkdel.models import Action, Outcome

texts = st.text(st.characters(codec=None), max_size=40)  # includes lone surrogates, controls
opt_texts = st.none() | texts
ints = st.integers(min_value=-(2**70), max_value=2**70)
opt_floats = st.none() | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def hot_records(draw: st.DrawFn) -> dict[str, Any]:
    """A dispatch, response or final record as the executor builds them."""
    run, ts, peer_id = draw(texts), draw(texts), draw(texts)
    head: dict[str, Any] = {"peer_id": peer_id, "vif_id": draw(opt_texts)}
    kind = draw(st.sampled_from(["dispatch", "response", "final"]))
    if kind == "dispatch":
        return audit.dispatch(run, ts, **head, attempt=draw(ints))
    if kind == "response":
        return audit.response(
            run,
            ts,
            **head,
            attempt=draw(ints),
            status=draw(st.none() | ints),
            error_code=draw(opt_texts),
            error_msg=draw(opt_texts),
            request_id=draw(opt_texts),
            elapsed_ms=draw(opt_floats),
            action=draw(st.sampled_from(list(Action))),
            retry_in_s=draw(opt_floats),
        )
    return audit.final(
        run,
        ts,
        **head,
        outcome=draw(st.sampled_from(list(Outcome))),
        reason=draw(texts),
        attempts=draw(ints),
    )


@given(hot_records())
def test_template_path_is_byte_identical_to_the_json_encoder(record: dict[str, Any]) -> None:
    """Every dispatch/response/final record encodes to the same bytes on both paths."""
    line = encode(record)
    assert line == encode_generic(record)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == record


@given(hot_records(), st.sampled_from(["extra", "reorder", "bool", "enum", "nan", "int_float"]))
def test_unusual_records_take_the_generic_path(record: dict[str, Any], twist: str) -> None:
    """Extra fields, other key orders and unexpected types still encode like json does."""
    key = "attempt" if "attempt" in record else "attempts"
    if twist == "extra":
        record["note"] = "x"
    elif twist == "reorder":
        record = dict(reversed(record.items()))
    elif twist == "bool":
        record[key] = True
    elif twist == "enum":
        record["ts"] = Outcome.DELETED  # a str subclass: json writes its value
    elif twist == "int_float" and record["event"] == "response":
        record["elapsed_ms"] = 3
    elif twist == "nan" and record["event"] == "response":
        record["elapsed_ms"] = math.nan
        with pytest.raises(AuditError, match="cannot encode audit record 'response'"):
            encode(record)
        return
    assert encode(record) == encode_generic(record)


def test_a_response_line_reads_as_the_schema_says() -> None:
    """A typical 204 response line is compact JSON with the schema's key order."""
    rec = audit.response(
        "r1",
        "2026-12-03T01:02:03.004Z",
        peer_id="p",
        vif_id=None,
        attempt=1,
        status=204,
        error_code=None,
        error_msg='ü "q" \u2028',
        request_id="req",
        elapsed_ms=1.5,
        action=Action.DONE,
        retry_in_s=None,
    )
    expected = (
        '{"v":1,"ts":"2026-12-03T01:02:03.004Z","run":"r1","event":"response","peer_id":"p",'
        '"vif_id":null,"attempt":1,"status":204,"error_code":null,'
        '"error_msg":"ü \\"q\\" \u2028","request_id":"req","elapsed_ms":1.5,"action":"done",'
        '"retry_in_s":null}\n'
    )
    assert encode(rec) == expected.encode()


def test_unhashable_event_values_do_not_crash_the_encoder() -> None:
    """A record whose event is not a string is encoded generically."""
    assert encode({"event": ["x"]}) == b'{"event":["x"]}\n'


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
def test_format_ts_ms_matches_format_ts(moment: datetime) -> None:
    """Milliseconds since the epoch format like the datetime they truncate."""
    aware = moment.replace(tzinfo=UTC)
    epoch_ms = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert format_ts_ms(epoch_ms) == format_ts(aware)
