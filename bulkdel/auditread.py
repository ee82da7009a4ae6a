"""Reading the audit log: its records, decoded a block of lines at a time, torn lines tolerated.

Pure core: `decode_lines`, `decode_block`. Shell: `iter_audit` (streams a file a block at a
time; fold and report consume it without holding the records), `iter_blocks` and `read_audit`.
Everything here is also importable from `bulkdel.audit`, which holds the schema it checks.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from bulkdel.errors import AuditError
from bulkdel.gcpause import gc_paused

__all__ = [
    "AuditRead",
    "ReadReport",
    "decode_block",
    "decode_lines",
    "iter_audit",
    "iter_blocks",
    "iter_records",
    "read_audit",
]


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
    blocks = iter_blocks(path)
    # Records go from each block's list to the caller in C, with no generator step each.
    return itertools.chain.from_iterable(_decoded(blocks, str(path), report, responses))


def _decoded(
    blocks: Iterator[bytes], source: str, report: ReadReport, responses: bool
) -> Iterator[list[dict[str, Any]]]:
    first = 1
    for block in blocks:
        yield decode_block(block, first, source=source, report=report, responses=responses)
        first += block.count(b"\n")


def iter_blocks(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The audit log at `path` in blocks of whole lines, in order.

    Only the last block may lack its line end (a torn last line, or one written by hand).
    The file is opened at once: AuditError here, not when iterating, if it cannot be read.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 -- closed by _blocks
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc.strerror}; check the path") from exc
    return _blocks(fh, str(path))


def _blocks(fh: BinaryIO, source: str) -> Iterator[bytes]:
    with fh:
        rest = b""
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
                yield block
        if rest:
            yield rest


def decode_block(
    block: bytes,
    first: int,
    *,
    source: str = "audit log",
    report: ReadReport,
    responses: bool = True,
) -> list[dict[str, Any]]:
    """The records of a block from `iter_blocks` whose first line is number `first` (pure).

    What `iter_records` makes of those lines (see `iter_audit` for `responses`); `report` is
    brought up to date.
    """
    if not block.endswith(b"\n"):  # a last line without its line end (torn, or by hand)
        return _decode_chunk([block], first, source, report)
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


# The schema is bulkdel.audit's, and bulkdel.audit re-exports this module: each imports the
# other after its own definitions, so either can be imported first.
from bulkdel.audit import _HEAD_SET, EVENT_FIELDS, SCHEMA_VERSION  # noqa: E402
