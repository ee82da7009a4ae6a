"""Inventory formats (pure): what an ID is, format detection, and the four parsers.

Parsers turn lines (CSV, plain list, JSON Lines) or a JSON text into `Row`s; lines that hold
exactly one ID and nothing else may come out in bulk as an `IdRun`. `bulkdel.inventory`
validates rows into an `Inventory` and does the I/O.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import json
import re
import typing
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from bulkdel.errors import InputError

EXAMPLE_ID = "68250543-0a13-4ac7-aa36-d018856ac640"
PEER_KEYS = ("vif_peer_id", "peer_id", "id")
VIF_KEYS = ("vif_id", "virtual_interface_id")
PROJECT_KEY = "project_id"
FIX_SHAPES = (
    'use a JSON array of IDs or objects with "vif_peer_id", {"vif_peers": [...]}, '
    'or a ListVirtualInterfaces response {"virtual_interfaces": [...]}'
)
FIX_INTERFACE = (
    'to request all of its peers, pass the ListVirtualInterfaces response {"virtual_interfaces": '
    "[...]}"
)
FIX_COLUMN = (
    "name the column vif_peer_id (or peer_id, id); a file without a header must start with a UUID"
)
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(UUID_PATTERN)
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_CSV_SPECIAL = re.compile('["\r\n\x00]')  # only these make csv differ from str.split(",")
_JSON_WS = re.compile(r"[ \t\n\r]*")
# Lines that hold one ID and nothing else, as each parser would trim them (group 1: the ID).
_BARE_CELL = re.compile(f" *({UUID_PATTERN}) *[\r\n]*")
_BARE_JSON = re.compile(f'[ \t\r\n]*"({UUID_PATTERN})"[ \t\r\n]*')


class Format(StrEnum):
    """Inventory file formats."""

    CSV = "csv"
    PLAIN = "plain"
    JSON = "json"
    JSONL = "jsonl"


class _NoId:
    """Marks a row whose peer ID key or cell is absent."""

    def __repr__(self) -> str:
        return "NO_ID"


NO_ID: typing.Final = _NoId()


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number kept as its text: never an ID, and never a 4300-digit int conversion."""

    text: str


@dataclass(frozen=True, slots=True)
class Row:
    """One inventory entry before validation: where it was read and its raw values."""

    line: int
    column: str | None  # header name, JSON key or "element N"
    peer: object  # str when well typed; NO_ID when absent; any JSON value otherwise
    vif: object = None
    project: object = None


@dataclass(frozen=True, slots=True)
class IdRun:
    """Entries that are each exactly one UUID and nothing else (no vif, no project), in bulk."""

    lines: Sequence[int]  # the line of each entry
    peers: list[str]  # lowercase canonical UUIDs


def input_error(
    source: str, line: int | None, message: str, fix: str, column: str | None = None
) -> InputError:
    """An InputError located in the inventory `source`."""
    return InputError(message, file=source, line=line, column=column, fix=fix)


# --- values ------------------------------------------------------------------------------------


def canonical_uuid(value: str) -> str | None:
    """Return `value` as a lowercase canonical UUID, or None unless it is exactly one."""
    return value.lower() if _UUID.fullmatch(value) else None


def id_problem(value: object) -> str | None:
    """Say what is wrong with `value` as an ID (phrased to follow it), or None if it is fine."""
    if value is NO_ID:
        return "has no peer ID (no vif_peer_id, peer_id or id)"
    if not isinstance(value, str):
        return f"is {kind_of(value)}, not an ID string"
    if canonical_uuid(value):
        return None
    if not value:
        return "is empty"
    if any(c.isspace() for c in value):
        return "contains whitespace or a line break"
    if any(part in value for part in ("/", "\\", "%", "..")):
        return "contains a path or URL escape ('/', '\\', '%', '..'); only bare UUIDs are allowed"
    if "," in value:
        return "has more than one column; add a header row (vif_peer_id,vif_id) to use columns"
    if ";" in value:
        return "contains ';'; separate columns with commas"
    if value.startswith("{") and value.endswith("}") and canonical_uuid(value[1:-1]):
        return "has braces; write it without { }"
    if _HEX32.fullmatch(value):
        return "has no dashes; write it in the 8-4-4-4-12 form"
    if not value.isascii():
        return "contains non-ASCII characters (look-alike digits or letters?)"
    return "is not a 36-character UUID (8-4-4-4-12 hex digits)"


def kind_of(value: object) -> str:
    """The JSON kind of `value`, for messages: "null", "a number", "an array", ..."""
    kinds = {type(None): "null", bool: "true/false", _Number: "a number", list: "an array"}
    kinds |= {dict: "an object", str: "a string"}
    return kinds.get(type(value), type(value).__name__)


def display(value: object) -> str:
    """Printable and at most 80 characters: control and non-ASCII characters are escaped."""
    if isinstance(value, str):
        return json.dumps(value)[1:-1][:80]
    if isinstance(value, _Number):
        return value.text[:80]
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return "[...]" if isinstance(value, list) else "{...}" if isinstance(value, dict) else ""


def _first(names: Collection[str], keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in names), None)


def _refuse_interface(names: Collection[str], source: str, line: int, column: str | None) -> None:
    # An interface's own "id" would otherwise be taken for a peer ID.
    if "vif_peers" in names:
        msg = "this entry is a virtual interface (it has vif_peers), not a peer"
        raise input_error(source, line, msg, FIX_INTERFACE, column)


def _from_value(value: object, line: int, column: str | None, source: str) -> Row:
    """Turn one JSON element (an ID string or an object with ID keys) into a row."""
    if not isinstance(value, dict):
        return Row(line, column, value)
    fields = {str(k).strip().lower(): v for k, v in value.items()}
    _refuse_interface(fields, source, line, column)
    peer, vif = _first(fields, PEER_KEYS), _first(fields, VIF_KEYS)
    peer_value = fields[peer] if peer else NO_ID
    return Row(line, column or peer, peer_value, fields.get(vif or ""), fields.get(PROJECT_KEY))


# --- format detection and line formats ----------------------------------------------------------


def _ignorable(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


def _split(text: str) -> list[str] | None:
    """Split one CSV line (records never span lines); None when the csv module refuses it."""
    if not _CSV_SPECIAL.search(text):
        return text.split(",") if text else []  # what csv would return, much faster
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def detect_format(first_chunk: str, path: str) -> Format:
    """Tell the format from the start of the text; the extension only breaks a JSON tie."""
    lines = (line.rstrip("\r") for line in first_chunk.removeprefix("\ufeff").split("\n"))
    line = next((x.strip() for x in lines if not _ignorable(x)), "")
    jsonl_name = path.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson"))
    if line.startswith("["):
        return Format.JSON
    if line.startswith(("{", '"')):
        if jsonl_name:
            return Format.JSONL
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            value = None
        # A quoted CSV header ("vif_peer_id") is a JSON string too, but not a UUID; and a
        # one-line JSON document has none of the row keys at its top level.
        is_id = isinstance(value, str) and canonical_uuid(value)
        if is_id or (isinstance(value, dict) and {*PEER_KEYS, *VIF_KEYS} & set(value)):
            return Format.JSONL
        if line.startswith("{"):
            return Format.JSON
    cells = _split(line) or [""]
    return Format.PLAIN if canonical_uuid(cells[0].strip(" ")) else Format.CSV


class LineReader:
    """Rows of a line format (plain, CSV or JSON Lines), one line at a time.

    `row` is the parser proper. `feed` takes numbered batches and passes lines that hold one
    ID and nothing else (as `row` would read them) straight into `IdRun`s. `wrap` tells the
    caller when whole blocks of such lines may be taken in bulk: b"" for bare IDs, b'"' for
    JSON strings, None while that is not known to be safe (a CSV before its header, or one
    whose ID column is not the first).
    """

    def __init__(self, fmt: Format, source: str) -> None:
        self.fmt, self.source = fmt, source
        self.header: list[str] | None = None
        self.columns = (0, -1, -1)  # peer, vif, project (-1: absent)
        self.decode = _decoder().decode
        self.wrap: bytes | None = {Format.PLAIN: b"", Format.JSONL: b'"'}.get(fmt)

    def row(self, number: int, line: str) -> Row | None:
        """The row of one line; None for a line that holds none (blank, comment, header)."""
        if self.fmt is Format.JSONL:
            text = line.strip(" \t\r\n")
            if not text:
                return None
            try:
                value = self.decode(text)
            except (ValueError, RecursionError) as exc:
                raise _json_error(exc, self.source, number) from None
            return _from_value(value, number, None, self.source)
        text = line.rstrip("\r\n")
        if _ignorable(text):
            return None
        cells = _split(text)
        if cells is not None and not any(c.strip() for c in cells):
            return None  # only commas
        if self.fmt is Format.PLAIN:
            extra = cells is None or any(c.strip(" ") for c in cells[1:])
            return Row(number, None, text.strip(" ") if extra or not cells else cells[0].strip(" "))
        if self.header is None:
            self.header = [c.strip().lower() for c in cells or [text]]
            self.columns = _header_columns(self.header, text, self.source, number)
            self.wrap = b"" if self.columns[0] == 0 else None
            return None
        peer, vif, project = self.columns
        if cells is None:  # unreadable row: its text is reported as the invalid ID
            return Row(number, self.header[peer], text.strip(" "))
        got = [c.strip(" ") for c in cells] + [""] * len(self.header)
        return Row(
            number,
            self.header[peer],
            got[peer],
            got[vif] if vif >= 0 else None,
            got[project] if project >= 0 else None,
        )

    def feed(self, first: int, lines: Iterable[str]) -> Iterator[Row | IdRun]:
        """Rows of `lines`, numbered from `first`; runs of one-ID lines come out as IdRuns."""
        peers: list[str] = []
        numbers: list[int] = []
        match = self._bare()
        for number, line in enumerate(lines, first):
            if match is not None and (bare := match(line)) is not None:
                peers.append(bare[1])
                numbers.append(number)
                continue
            row = self.row(number, line)
            match = self._bare()  # a CSV header may have just been read
            if row is not None:
                if peers:
                    yield IdRun(numbers, [p.lower() for p in peers])
                    peers, numbers = [], []
                yield row
        if peers:
            yield IdRun(numbers, [p.lower() for p in peers])

    def _bare(self) -> typing.Callable[[str], re.Match[str] | None] | None:
        if self.wrap is None:
            return None
        return (_BARE_JSON if self.wrap else _BARE_CELL).fullmatch


def parse_plain(lines: Iterable[str], source: str) -> Iterator[Row]:
    """Parse a headerless list of IDs, one per line; surrounding spaces are trimmed."""
    return _parse(Format.PLAIN, lines, source)


def parse_csv(lines: Iterable[str], source: str) -> Iterator[Row]:
    """Parse CSV with a header naming the peer ID column; cells are trimmed of spaces only."""
    return _parse(Format.CSV, lines, source)


def parse_jsonl(lines: Iterable[str], source: str) -> Iterator[Row]:
    """Parse JSON Lines: one ID string or object per line; blank lines are skipped."""
    return _parse(Format.JSONL, lines, source)


def _parse(fmt: Format, lines: Iterable[str], source: str) -> Iterator[Row]:
    reader = LineReader(fmt, source)
    for number, line in enumerate(lines, 1):
        if (row := reader.row(number, line)) is not None:
            yield row


def _header_columns(names: list[str], text: str, source: str, line: int) -> tuple[int, int, int]:
    """Indexes of the peer, vif and project columns (-1 when absent)."""
    _refuse_interface(names, source, line, None)
    peer = _first(names, PEER_KEYS)
    if peer is None:
        if "\r" in text:
            fix = "save the file with LF or CRLF line endings"
            raise input_error(source, line, "lines end with a bare carriage return", fix)
        for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if delimiter in text:
                msg = f"the header is separated by {label}, not commas"
                fix = "save the file as comma-separated CSV (use commas)"
                raise input_error(source, line, msg, fix)
        shown = ", ".join(display(n) for n in names[:10])
        msg = f"no peer ID column: the header has {shown}"
        if len(names) == 1:  # a plain list of IDs whose first ID is bad?
            msg = f"the first line '{shown}' is neither a header with a vif_peer_id, peer_id or id "
            msg += f"column nor a valid ID: it {id_problem(text.strip(' '))}"
        raise input_error(source, line, msg, FIX_COLUMN)
    vif, project = _first(names, VIF_KEYS), _first(names, (PROJECT_KEY,))
    return (
        names.index(peer),
        names.index(vif) if vif else -1,
        names.index(project) if project else -1,
    )


# --- JSON ---------------------------------------------------------------------------------------


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(parse_int=_Number, parse_float=_Number, parse_constant=_Number)


def decode_json(text: str) -> object:
    """Decode a whole JSON document as the parsers do (numbers kept as text)."""
    return _decoder().decode(text)


def _json_error(exc: Exception, source: str, line: int | None = None) -> InputError:
    if isinstance(exc, json.JSONDecodeError):
        where = exc.lineno if line is None else line
        fix = "fix the JSON syntax (is the file truncated?)"
        return input_error(source, where, f"invalid JSON: {exc.msg}", fix, f"column {exc.colno}")
    return input_error(source, line, "the JSON is nested too deeply", FIX_SHAPES)


def parse_json(text: str, source: str) -> list[Row]:
    """Parse a whole JSON document; rows carry the line where their element starts."""
    try:
        return _Walker(text, source).document()
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _json_error(exc, source) from None


class _Walker:
    """Walks the containers of a JSON document by position; leaves are decoded by json."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source, self.end = text, source, 0
        self.decode = _decoder().raw_decode
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def skip(self, pos: int) -> int:
        match = _JSON_WS.match(self.text, pos)
        return match.end() if match else pos

    def expect(self, token: str, pos: int, what: str) -> None:
        if not self.text.startswith(token, pos):
            raise json.JSONDecodeError(f"Expecting {what}", self.text, pos)

    def children(self, pos: int) -> Iterator[tuple[str | int, object, int]]:
        """(key or index, value, start) of the array or object at `pos`; sets `self.end`."""
        close = "]" if self.text.startswith("[", pos) else "}"
        pos = self.skip(pos + 1)
        if self.text.startswith(close, pos):
            self.end = pos + 1
            return
        for index in itertools.count():
            key: str | int = index
            if close == "}":
                self.expect('"', pos, "property name enclosed in double quotes")
                name, pos = self.decode(self.text, pos)
                key = str(name).lower()
                self.expect(":", pos := self.skip(pos), "':' delimiter")
                pos = self.skip(pos + 1)
            value, end = self.decode(self.text, pos)
            yield key, value, pos
            pos = self.skip(end)
            if not self.text.startswith(",", pos):
                self.expect(close, pos, "',' delimiter")
                self.end = pos + 1
                return
            pos = self.skip(pos + 1)

    def fail(self, what: str, pos: int, column: str | None = None) -> InputError:
        return input_error(self.source, self.line(pos), what, FIX_SHAPES, column)

    def rows(self, value: object, pos: int, column: str) -> list[Row]:
        """Rows of the ID array `value` found at `pos`."""
        if not isinstance(value, list):
            raise self.fail(f"{column} is {kind_of(value)}, not an array", pos, column)
        return [
            _from_value(item, self.line(p), f"{column}[{i}]", self.source)
            for i, item, p in self.children(pos)
        ]

    def document(self) -> list[Row]:
        """Rows of the whole document; anything after it is a syntax error."""
        start = self.skip(0)
        if self.text.startswith("[", start):
            rows = [
                _from_value(item, self.line(p), f"element {i}", self.source)
                for i, item, p in self.children(start)
            ]
            end = self.end
        elif self.text.startswith("{", start):
            members = {k: (v, p) for k, v, p in self.children(start)}
            end = self.end  # before listing() walks the inner containers
            rows = self.listing(members, start)
        else:
            value, _ = self.decode(self.text, start)
            raise self.fail(f"the document is {kind_of(value)}", start)
        if (end := self.skip(end)) != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, end)
        return rows

    def listing(self, members: dict[str | int, tuple[object, int]], start: int) -> list[Row]:
        """Rows of `{"vif_peers": [...]}` or of every peer in `{"virtual_interfaces": [...]}`."""
        if "virtual_interfaces" not in members:
            if "vif_peers" not in members:
                raise self.fail("the JSON object has no vif_peers or virtual_interfaces", start)
            return self.rows(*members["vif_peers"], "vif_peers")
        vifs, pos = members["virtual_interfaces"]
        if not isinstance(vifs, list):
            raise self.fail(f"virtual_interfaces is {kind_of(vifs)}", pos, "virtual_interfaces")
        rows: list[Row] = []
        for i, vif, vif_pos in self.children(pos):
            column = f"virtual_interfaces[{i}]"
            if not isinstance(vif, dict):
                raise self.fail(f"{column} is {kind_of(vif)}, not an object", vif_pos, column)
            fields = {k: (v, p) for k, v, p in self.children(vif_pos)}
            peers, peers_pos = fields.get("vif_peers", (None, vif_pos))
            if peers is None:  # an interface listed without its peers has nothing to request
                continue
            vif_id = fields.get("id", (None, 0))[0]
            for row in self.rows(peers, peers_pos, f"{column}.vif_peers"):
                rows.append(replace(row, vif=vif_id) if vif_id is not None else row)
        return rows
