"""An audit log read straight into the fold's rows: replay and resume of a million peers.

`fold(iter_audit(path))` decodes every record into a dict only to read five fields of it.
Here each block of lines the writer laid out as it always does (`dispatch`, `final` and
`response` records with plain strings) is matched by one regular expression, which hands out
exactly those fields: no dict per record, and `response` records are not even split up.
Any other block (a `run_started`, an escaped string, a torn or foreign line) goes through
`auditread.decode_block`, so what is read, skipped and refused is exactly what `iter_audit` reads,
skips and refuses.
"""

from __future__ import annotations

import itertools
import operator
import os
import re
from collections.abc import Iterable, Iterator

from bulkdel.audit import EVENT_FIELDS, SCHEMA_VERSION
from bulkdel.auditread import ReadReport, decode_block, iter_blocks
from bulkdel.fold import AuditState, Row, fold_rows, rows_of

__all__ = ["block_rows", "fold_audit", "iter_rows"]

# A JSON string's text with no escape and no control character in it: json decodes it to
# exactly that text. Run IDs and timestamps also leave out brackets, as `iter_audit` insists
# before it leaves a response undecoded.
_TEXT = r'[^"\\\x00-\x1f]*'
_ID = r'[^"\\{\[\x00-\x1f]*'
_INT = r"-?(?:0|[1-9][0-9]*)"  # a JSON integer (a fraction or exponent is left to json)
# One match per line: a line laid out as the writer does, or any other line (the last group).
# Groups, as fold's Row: run, "dispatch", "final", peer_id, vif_id, "null", outcome, reason,
# then the other line itself (with its line end, so never empty). Of a response only the
# head is read, and that no other `"event"` follows, as `iter_audit(responses=False)` does.
_LINE = re.compile(
    r'^(?:\{"v":1,"ts":"' + _ID + r'","run":"(' + _ID + r')","event":"(?:'
    r'response",(?![^\n]*"event")[^\n]*'
    r'|(?:(dispatch)|(final))","peer_id":"(' + _TEXT + r')","vif_id":(?:"(' + _TEXT + r')"'
    r"|(null)),(?(2)"
    r'"attempt":' + _INT + r'|"outcome":"(' + _TEXT + r')","reason":"(' + _TEXT + r')",'
    r'"attempts":' + _INT + r"))\}\n"
    r"|([^\n]*\n))",
    re.MULTILINE,
)
_OTHER = operator.itemgetter(8)
_LAYOUT = {
    "dispatch": frozenset({"v", "ts", "run", "event", "peer_id", "vif_id", "attempt"}),
    "final": frozenset(
        {"v", "ts", "run", "event", "peer_id", "vif_id", "outcome", "reason", "attempts"}
    ),
}
#: The expression accepts records with exactly these fields: were the schema to require more,
#: it would accept records `iter_audit` refuses, so every block goes the json way instead.
FAST = SCHEMA_VERSION == 1 and all(EVENT_FIELDS[e] <= keys for e, keys in _LAYOUT.items())


def block_rows(block: bytes) -> tuple[int, list[Row] | None]:
    """The number of lines in a block of whole lines, and their rows when all are as usual.

    The rows (None if any line is laid out otherwise) are what `rows_of(iter_records(lines))`
    yields, plus one per response. Pure.
    """
    try:
        text = block.decode("utf-8", "surrogatepass")  # as json decodes a log's bytes
    except UnicodeDecodeError:
        return block.count(b"\n"), None
    rows: list[Row] = _LINE.findall(text)  # a row per line: the last alternative takes any
    return len(rows), rows if FAST and not any(map(_OTHER, rows)) else None


def iter_rows(path: str | os.PathLike[str], *, report: ReadReport | None = None) -> Iterator[Row]:
    """The fold's rows of the audit log at `path`: `rows_of(iter_audit(path))`, faster.

    The same records are read, the same torn lines skipped (and put in `report`), the same
    AuditError raised. Rows of `response` records may be among them (fold skips them).
    """
    report = ReadReport() if report is None else report
    return itertools.chain.from_iterable(_block_rows(iter_blocks(path), str(path), report))


def _block_rows(
    blocks: Iterable[bytes], source: str, report: ReadReport
) -> Iterator[Iterable[Row]]:
    first = 1
    for block in blocks:
        # Only the last block may lack its line end: its line goes the json way.
        lines, rows = block_rows(block) if block.endswith(b"\n") else (0, None)
        if rows is None:
            yield rows_of(decode_block(block, first, source=source, report=report, responses=False))
        else:
            report.last_line = first + lines - 1
            yield rows
        first += lines


def fold_audit(path: str | os.PathLike[str], *, report: ReadReport | None = None) -> AuditState:
    """`fold(iter_audit(path))`, read the fast way (see `iter_rows`)."""
    return fold_rows(iter_rows(path, report=report))
