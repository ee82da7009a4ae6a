"""The audit log: schema v1 records, building and reading them.

Pure core: record builders, `new_run_id`, `decode_lines`. Shell: `iter_audit` (streams a file
a block at a time; fold and report consume it without holding the records) and `read_audit`.
The writer (`bulkdel.auditfile`) and the line encoding (`bulkdel.encoding`) are re-exported
here, so `audit.AuditWriter.open(...)` and `audit.encode(...)` keep working.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from bulkdel.auditfile import AuditWriter, FsyncPolicy, LockInfo
from bulkdel.encoding import encode, format_ts
from bulkdel.errors import AuditError
from bulkdel.gcpause import gc_paused
from bulkdel.models import Action, Outcome, StopReason

__all__ = [
    "EVENT_FIELDS",
    "MAX_ERROR_MSG",
    "MAX_SERVER_TOKEN",
    "REQUIRED_SETTINGS",
    "SCHEMA_VERSION",
    "AuditRead",
    "AuditWriter",
    "FsyncPolicy",
    "LockInfo",
    "ReadReport",
    "decode_lines",
    "dispatch",
    "encode",
    "final",
    "format_ts",
    "iter_audit",
    "iter_records",
    "new_run_id",
    "read_audit",
    "response",
    "run_finished",
    "run_started",
]

SCHEMA_VERSION = 1
#: Server-supplied text is capped: a hostile or broken server may send megabytes.
MAX_ERROR_MSG = 500
MAX_SERVER_TOKEN = 200  # error_code, request_id
#: Keys every `run_started.settings` must have (DESIGN, "Contract details").
REQUIRED_SETTINGS = frozenset({"rate", "burst", "concurrency", "per_interface", "max_attempts"})

_HEAD = ("v", "ts", "run", "event")
_HEAD_SET = frozenset(_HEAD)
#: Fields each event must carry (checked on read; unknown events are passed through).
EVENT_FIELDS: dict[str, frozenset[str]] = {
    "run_started": frozenset(
        {*_HEAD, "version", "project_id", "endpoint", "inventory", "inventory_sha256"}
        | {"settings", "planned", "resumed_from"}
    ),
    "dispatch": frozenset({*_HEAD, "peer_id", "vif_id", "attempt"}),
    "response": frozenset(
        {*_HEAD, "peer_id", "vif_id", "attempt", "status", "error_code", "error_msg"}
        | {"request_id", "elapsed_ms", "action", "retry_in_s"}
    ),
    "final": frozenset({*_HEAD, "peer_id", "vif_id", "outcome", "reason", "attempts"}),
    "run_finished": frozenset({*_HEAD, "counts", "duration_s", "exit_code", "stop_reason"}),
}


# --- time and identity ----------------------------------------------------------------------


def new_run_id(now: datetime, rand: random.Random | bytes) -> str:
    """A run ID that sorts by start time: `20261203T010203Z-a1b2c3` (24 random bits)."""
    if now.tzinfo is None:
        raise ValueError("new_run_id needs a timezone-aware datetime")
    if isinstance(rand, bytes):
        if len(rand) < 3:
            raise ValueError("new_run_id needs at least 3 random bytes")
        suffix = rand[:3].hex()
    else:
        suffix = f"{rand.getrandbits(24):06x}"
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ-") + suffix


# --- record builders (pure) -----------------------------------------------------------------


def _ts(ts: datetime | str) -> str:
    return ts if isinstance(ts, str) else format_ts(ts)


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"  # the ellipsis tells the reader it was cut


def _extra(rec: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key in extra:
        if key in rec:
            raise ValueError(f"extra field {key!r} would overwrite a schema field")
    rec.update(extra)
    return rec


def _str_map(counts: Mapping[str, int]) -> dict[str, int]:
    return {str(k): int(n) for k, n in counts.items()}  # str() turns StrEnum keys into values


def run_started(
    run: str,
    ts: datetime | str,
    *,
    version: str,
    project_id: str,
    endpoint: str,
    inventory: str | None,
    inventory_sha256: str | None,
    settings: Mapping[str, Any],
    planned: Mapping[str, int],
    resumed_from: list[str] | None,
    **extra: Any,
) -> dict[str, Any]:
    """The first record of a run; extra fields (e.g. `plan_sha256`, `command`) follow."""
    missing = REQUIRED_SETTINGS - settings.keys()
    if missing:
        raise ValueError(f"run_started.settings lacks {sorted(missing)}")
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "run_started",
        "version": version,
        "project_id": project_id,
        "endpoint": endpoint,
        "inventory": inventory,
        "inventory_sha256": inventory_sha256,
        "settings": dict(settings),
        "planned": _str_map(planned),
        "resumed_from": None if resumed_from is None else list(resumed_from),
    }
    return _extra(rec, extra) if extra else rec


def dispatch(
    run: str, ts: datetime | str, *, peer_id: str, vif_id: str | None, attempt: int, **extra: Any
) -> dict[str, Any]:
    """Written (and flushed) before a DELETE leaves."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "dispatch",
        "peer_id": peer_id,
        "vif_id": vif_id,
        "attempt": attempt,
    }
    return _extra(rec, extra) if extra else rec


def response(
    run: str,
    ts: datetime | str,
    *,
    peer_id: str,
    vif_id: str | None,
    attempt: int,
    status: int | None,
    error_code: str | None,
    error_msg: str | None,
    request_id: str | None,
    elapsed_ms: float | None,
    action: Action,
    retry_in_s: float | None,
    **extra: Any,
) -> dict[str, Any]:
    """One answer (or transport error, `status` None); server text is capped in length."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "response",
        "peer_id": peer_id,
        "vif_id": vif_id,
        "attempt": attempt,
        "status": status,
        "error_code": _cap(error_code, MAX_SERVER_TOKEN),
        "error_msg": _cap(error_msg, MAX_ERROR_MSG),
        "request_id": _cap(request_id, MAX_SERVER_TOKEN),
        "elapsed_ms": elapsed_ms,
        # str() of a StrEnum member is its value, and cheaper than `.value`.
        "action": str(action) if type(action) is Action else Action(action).value,
        "retry_in_s": retry_in_s,
    }
    return _extra(rec, extra) if extra else rec


def final(
    run: str,
    ts: datetime | str,
    *,
    peer_id: str,
    vif_id: str | None,
    outcome: Outcome,
    reason: str,
    attempts: int,
    **extra: Any,
) -> dict[str, Any]:
    """Exactly one per requested peer per run."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "final",
        "peer_id": peer_id,
        "vif_id": vif_id,
        "outcome": str(outcome) if type(outcome) is Outcome else Outcome(outcome).value,
        "reason": reason,
        "attempts": attempts,
    }
    return _extra(rec, extra) if extra else rec


def run_finished(
    run: str,
    ts: datetime | str,
    *,
    counts: Mapping[str, int],
    duration_s: float,
    exit_code: int,
    stop_reason: StopReason,
    **extra: Any,
) -> dict[str, Any]:
    """The last record of a run that ended on its own terms."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "run_finished",
        "counts": _str_map(counts),
        "duration_s": duration_s,
        "exit_code": exit_code,
        "stop_reason": StopReason(stop_reason).value,
    }
    return _extra(rec, extra) if extra else rec


@dataclass(frozen=True, slots=True)
class AuditRead:
    """Records of one audit log; torn lines (from a crash) are skipped and reported."""

    records: tuple[dict[str, Any], ...]
    torn_tail: bool = False  # the last line was incomplete
    bad_lines: tuple[int, ...] = ()  # 1-based numbers of every skipped torn line


@dataclass(slots=True)
class ReadReport:
    """What `iter_records` skipped; filled in as it goes, complete once it is exhausted."""

    bad_lines: list[int] = field(default_factory=list)
    last_line: int = 0  # number of the last non-blank line

    @property
    def torn_tail(self) -> bool:
        """True when the last line was a torn record."""
        return bool(self.bad_lines) and self.bad_lines[-1] == self.last_line


_CHUNK = 4096
_NOT_OURS = "pass the JSON-lines file written by `bulkdel run --audit`"


def decode_lines(lines: Iterable[bytes], *, source: str = "audit log") -> AuditRead:
    """Decode JSON lines (pure); see `iter_records` for what is tolerated."""
    report = ReadReport()
    with gc_paused():
        records = tuple(iter_records(lines, source=source, report=report))
    return AuditRead(records, torn_tail=report.torn_tail, bad_lines=tuple(report.bad_lines))


def iter_records(
    lines: Iterable[bytes], *, source: str = "audit log", report: ReadReport | None = None
) -> Iterator[dict[str, Any]]:
    """Yield records one by one (to fold a log too big to hold in memory).

    A line that is not JSON but looks like a torn record (starts with `{"v":`, or holds only
    NUL bytes left by a power loss) is skipped and reported; such a line can sit mid-file
    because the writer starts a fresh line after a crash. Blank lines are ignored. Anything
    else (other text, JSON that is not a v1 record, a record lacking its event's fields)
    raises AuditError naming the line.
    """
    report = ReadReport() if report is None else report
    chunk: list[bytes] = []
    first = 1
    for line in lines:
        chunk.append(line)
        if len(chunk) == _CHUNK:
            yield from _decode_chunk(chunk, first, source, report)
            first += len(chunk)
            chunk = []
    if chunk:
        yield from _decode_chunk(chunk, first, source, report)


def _decode_chunk(
    chunk: list[bytes], first: int, source: str, report: ReadReport
) -> list[dict[str, Any]]:
    # One json.loads over the whole chunk is faster and shares key strings between records;
    # any odd line (blank, torn, not an object) sends the chunk down the per-line path.
    try:
        parsed = json.loads(b"[" + b",".join(chunk) + b"]")
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and len(parsed) == len(chunk):
        _validate(parsed, first, source)
        report.last_line = first + len(chunk) - 1
        return parsed
    out = []
    for number, line in enumerate(chunk, first):
        if not line.strip():
            continue
        report.last_line = number
        try:
            rec = json.loads(line)
        except ValueError:
            body = line.strip().strip(b"\x00")
            if body and not body.startswith(b'{"v":'):
                raise AuditError(
                    f"{source}:{number}: not a bulkdel audit record ({body[:40]!r}); {_NOT_OURS}"
                ) from None
            report.bad_lines.append(number)
            continue
        _check(rec, number, source)
        out.append(rec)
    return out


def _validate(records: list[Any], first: int, source: str) -> None:
    """Check decoded records (line `first` onwards): AuditError naming the first bad one."""
    fields = EVENT_FIELDS
    for number, rec in enumerate(records, first):
        try:  # the common case in one expression; _check explains anything else
            ok = rec["v"] == SCHEMA_VERSION and rec.keys() >= fields[rec["event"]]
        except (TypeError, KeyError, AttributeError):
            ok = False
        if not ok:
            _check(rec, number, source)


_BLOCK_BYTES = 64 << 10  # measured: small blocks keep the decoded records in cache


def iter_audit(
    path: str | os.PathLike[str], *, report: ReadReport | None = None, responses: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield the records of the audit log at `path`: what `iter_records` yields, faster.

    The file is read in blocks of whole lines and each block is decoded by one json call (no
    Python work per line); a block with anything odd in it (a blank, torn or foreign line)
    goes line by line, exactly as `iter_records`. With `responses=False`, `response` records
    may be left out: lines that are one, laid out as the writer writes them, are not decoded
    (fold ignores them; they are a third of a log).
    """
    report = ReadReport() if report is None else report
    try:
        fh = open(path, "rb")  # noqa: SIM115 -- closed by _decoded_blocks
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc.strerror}; check the path") from exc
    # Records go from each block's list to the caller in C, with no generator step each.
    return itertools.chain.from_iterable(_decoded_blocks(fh, str(path), report, responses))


def _decoded_blocks(
    fh: BinaryIO, source: str, report: ReadReport, responses: bool
) -> Iterator[list[dict[str, Any]]]:
    """The records of `fh`, a list per block of whole lines."""
    with fh:
        first, rest = 1, b""
        while True:
            try:
                data = fh.read(max(_BLOCK_BYTES, len(rest)))  # a long line: read on faster
            except OSError as exc:
                raise AuditError(f"cannot read audit log {source}: {exc.strerror}") from exc
            if not data:
                break
            block = rest + data if rest else data
            cut = block.rfind(b"\n") + 1
            block, rest = block[:cut], block[cut:]
            if block:
                yield _decode_block(block, first, source, report, responses)
                first += block.count(b"\n")
        if rest:  # a last line without its line end (torn, or written by hand)
            yield _decode_chunk([rest], first, source, report)


def _decode_block(
    block: bytes, first: int, source: str, report: ReadReport, responses: bool = True
) -> list[dict[str, Any]]:
    """Records of `block` (whole lines, the first numbered `first`)."""
    if not responses and _RESPONSE in block:
        return _decode_without_responses(block, first, source, report)
    lines = block.count(b"\n")
    try:  # one value per line, or the line-by-line path explains what is wrong
        parsed = json.loads(b"[" + block[:-1].replace(b"\n", b",") + b"]")
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and len(parsed) == lines:
        _validate(parsed, first, source)
        report.last_line = first + lines - 1
        return parsed
    return _decode_chunk(block.split(b"\n")[:-1], first, source, report)


_RESPONSE = b'","event":"response",'
# The fields before the event exactly as the writer lays them out, with plain strings (no
# quote, backslash or bracket in them), so the event named is the record's own.
_RESPONSE_HEAD = re.compile(rb'\{"v":1,"ts":"[^"\\{\[]*","run":"[^"\\{\[]*","event":"response",')


def _decode_without_responses(
    block: bytes, first: int, source: str, report: ReadReport
) -> list[dict[str, Any]]:
    lines = block.split(b"\n")
    lines.pop()  # after the last line end
    head = _RESPONSE_HEAD.match
    kept = [
        line
        for line in lines
        if _RESPONSE not in line
        or not (head(line) and line.rstrip(b"\r").endswith(b"}") and line.count(b'"event"') == 1)
    ]
    try:
        parsed = json.loads(b"[" + b",".join(kept) + b"]")
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and len(parsed) == len(kept) and _all_valid(parsed):
        report.last_line = first + len(lines) - 1
        return parsed
    # The records' line numbers are lost: anything to explain goes line by line, every line.
    return _decode_chunk(lines, first, source, report)


def _all_valid(records: list[Any]) -> bool:
    fields = EVENT_FIELDS
    try:
        return all(
            rec["v"] == SCHEMA_VERSION and rec.keys() >= fields[rec["event"]] for rec in records
        )
    except (TypeError, KeyError, AttributeError):
        return False


def _check(rec: Any, number: int, source: str) -> None:
    if not isinstance(rec, dict) or "v" not in rec:
        raise AuditError(f"{source}:{number}: not a bulkdel audit record; {_NOT_OURS}")
    if rec["v"] != SCHEMA_VERSION:
        raise AuditError(
            f"{source}:{number}: audit schema v={rec['v']!r}, this bulkdel reads v1; "
            "use the bulkdel version that wrote the log"
        )
    event = rec.get("event")
    need = EVENT_FIELDS.get(event) if isinstance(event, str) else None
    if need is None:
        need = _HEAD_SET  # an event from a newer v1 writer: passed through, ignored by fold
    if not rec.keys() >= need:
        missing = ", ".join(sorted(need - rec.keys()))
        raise AuditError(f"{source}:{number}: {event!r} record lacks {missing}; {_NOT_OURS}")


def read_audit(path: str | os.PathLike[str]) -> AuditRead:
    """Read a whole audit log (streams the file; torn lines tolerated as in `iter_records`)."""
    report = ReadReport()
    with gc_paused():
        records = tuple(iter_audit(path, report=report))
    return AuditRead(records, torn_tail=report.torn_tail, bad_lines=tuple(report.bad_lines))
