"""How a record becomes one line of the audit log (pure: no I/O, no clock).

`encode` is the one encoder. The three records written for every peer (`dispatch`, `response`,
`final`) take a template path that produces byte-for-byte what the generic JSON encoder would;
anything unusual (extra fields, other key orders, unexpected types, NaN) takes the generic path.
The templates exist for speed: at thousands of peers a second, the generic encoder was a
quarter of the engine's own cost.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Any

from bulkdel.errors import AuditError

__all__ = ["encode", "encode_generic", "format_ts", "format_ts_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC with exactly milliseconds and `Z`; sub-millisecond digits are truncated."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_ts needs a timezone-aware datetime; use datetime.now(UTC)")
    if dt.utcoffset():
        dt = dt.astimezone(UTC)
    # isoformat truncates (never rounds) to the requested precision.
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"


def format_ts_ms(epoch_ms: int) -> str:
    """`format_ts` of a moment given as integer milliseconds since the Unix epoch."""
    seconds, ms = divmod(epoch_ms, 1000)
    return f"{_second(seconds)}.{ms:03d}Z"


@functools.lru_cache(maxsize=4)
def _second(epoch_s: int) -> str:
    # `2026-12-03T01:02:03`: the date and time formatting is done once a second, not per record.
    return format_ts(_EPOCH + timedelta(seconds=epoch_s))[:-5]


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_generic(record: Mapping[str, Any]) -> bytes:
    """One compact JSON line ending in `\\n`; StrEnums encode as their values, NaN is refused."""
    try:
        text = _ENCODER.encode(record)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"cannot encode audit record {record.get('event')!r}: {exc}") from exc
    # A lone surrogate (a server's "\ud800" escape) becomes the JSON escape it came from, so
    # the line stays valid UTF-8 and decodes back to the same string.
    return (text + "\n").encode("utf-8", "backslashreplace")


class _NotPlain(Exception):
    """A value the templates do not handle; the generic encoder takes the record."""


def _text(value: object) -> str:
    # encode_basestring is the C escaper json uses with ensure_ascii=False.
    if type(value) is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    raise _NotPlain


def _int(value: object) -> str:
    if type(value) is int:  # not bool: json writes true/false
        return str(value)
    if value is None:
        return "null"
    raise _NotPlain


def _float(value: object) -> str:
    if type(value) is float and value - value == 0.0:  # finite: NaN and inf go generic
        return repr(value)
    if value is None:
        return "null"
    raise _NotPlain


def _head(r: Mapping[str, Any], event: str) -> str:
    v, ts, run, peer = r["v"], r["ts"], r["run"], r["peer_id"]
    if not (type(v) is int and type(ts) is str and type(run) is str and type(peer) is str):
        raise _NotPlain
    # Inlined checks: these run three times per peer, and each helper call costs.
    return (
        f'{{"v":{v},"ts":{encode_basestring(ts)},"run":{encode_basestring(run)},'
        f'"event":"{event}","peer_id":{encode_basestring(peer)},"vif_id":{_text(r["vif_id"])},'
    )


def _dispatch(r: Mapping[str, Any]) -> str:
    return f'{_head(r, "dispatch")}"attempt":{_int(r["attempt"])}}}\n'


def _response(r: Mapping[str, Any]) -> str:
    return (
        f'{_head(r, "response")}"attempt":{_int(r["attempt"])},"status":{_int(r["status"])},'
        f'"error_code":{_text(r["error_code"])},"error_msg":{_text(r["error_msg"])},'
        f'"request_id":{_text(r["request_id"])},"elapsed_ms":{_float(r["elapsed_ms"])},'
        f'"action":{_text(r["action"])},"retry_in_s":{_float(r["retry_in_s"])}}}\n'
    )


def _final(r: Mapping[str, Any]) -> str:
    return (
        f'{_head(r, "final")}"outcome":{_text(r["outcome"])},"reason":{_text(r["reason"])},'
        f'"attempts":{_int(r["attempts"])}}}\n'
    )


_HEAD = ("v", "ts", "run", "event", "peer_id", "vif_id")
#: event -> (the builder's exact key order, its template)
_TEMPLATES: dict[object, tuple[tuple[str, ...], Callable[[Mapping[str, Any]], str]]] = {
    "dispatch": ((*_HEAD, "attempt"), _dispatch),
    "response": (
        (
            *_HEAD,
            *("attempt", "status", "error_code", "error_msg", "request_id"),
            *("elapsed_ms", "action", "retry_in_s"),
        ),
        _response,
    ),
    "final": ((*_HEAD, "outcome", "reason", "attempts"), _final),
}


def encode(record: Mapping[str, Any]) -> bytes:
    """One compact JSON line ending in `\\n`, identical to `encode_generic(record)`."""
    event = record.get("event")
    template = _TEMPLATES.get(event) if type(event) is str else None
    if template is not None and tuple(record) == template[0]:
        try:
            text = template[1](record)
        except _NotPlain:
            pass
        else:
            return text.encode("utf-8", "backslashreplace")
    return encode_generic(record)
