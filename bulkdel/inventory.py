"""Read and validate an inventory of vif peer IDs: CSV, plain list, JSON or JSON Lines.

Pure parsers turn lines (or a JSON text) into `Row`s, `collect` validates rows into an
`Inventory`, and `read_inventory` is the I/O shell: open or stdin, hash, gunzip, decode, detect.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import gzip
import hashlib
import io
import itertools
import json
import re
import sys
import typing
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from bulkdel.errors import InputError
from bulkdel.models import Duplicate, InvalidRow, Inventory, Requested

if typing.TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_LINE_BYTES = 64 * 1024
MAX_JSON_BYTES = 128 * 1024 * 1024
HEAD_BYTES = 1024 * 1024  # enough to see the first meaningful line of any sane inventory
EXAMPLE_ID = "68250543-0a13-4ac7-aa36-d018856ac640"
PEER_KEYS = ("vif_peer_id", "peer_id", "id")
VIF_KEYS = ("vif_id", "virtual_interface_id")
PROJECT_KEY = "project_id"
FIX_ID = (
    f"IDs must be 36-character UUIDs such as {EXAMPLE_ID}; remove the row or pass --skip-invalid"
)
FIX_TEXT = "export the inventory as UTF-8 text (CSV, JSON or JSON Lines)"
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
FIX_EMPTY = "give one peer ID per line, a CSV with a vif_peer_id column, or JSON"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_CSV_SPECIAL = re.compile('["\r\n\x00]')  # only these make csv differ from str.split(",")
_JSON_WS = re.compile(r"[ \t\n\r]*")
_GZIP_MAGIC = b"\x1f\x8b"
NL = b"\n"


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


def _error(
    source: str, line: int | None, message: str, fix: str, column: str | None = None
) -> InputError:
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
        return f"is {_kind(value)}, not an ID string"
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


def _kind(value: object) -> str:
    kinds = {type(None): "null", bool: "true/false", _Number: "a number", list: "an array"}
    kinds |= {dict: "an object", str: "a string"}
    return kinds.get(type(value), type(value).__name__)


def _display(value: object) -> str:
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
        raise _error(source, line, msg, FIX_INTERFACE, column)


def _from_value(value: object, line: int, column: str | None, source: str) -> Row:
    """Turn one JSON element (an ID string or an object with ID keys) into a row."""
    if not isinstance(value, dict):
        return Row(line, column, value)
    fields = {str(k).strip().lower(): v for k, v in value.items()}
    _refuse_interface(fields, source, line, column)
    peer, vif = _first(fields, PEER_KEYS), _first(fields, VIF_KEYS)
    peer_value = fields[peer] if peer else NO_ID
    return Row(line, column or peer, peer_value, fields.get(vif or ""), fields.get(PROJECT_KEY))


# --- format detection and text parsers (pure) ---------------------------------------------------


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


def _records(lines: Iterable[str]) -> Iterator[tuple[int, str, list[str] | None]]:
    """(line number, text, cells) of lines that are not blank, `#` comments or only commas."""
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if _ignorable(text):
            continue
        cells = _split(text)
        if cells is None or any(c.strip() for c in cells):
            yield number, text, cells


def parse_plain(lines: Iterable[str], source: str) -> Iterator[Row]:
    """Parse a headerless list of IDs, one per line; surrounding spaces are trimmed."""
    del source  # rows carry their line; collect() names the file
    for number, text, cells in _records(lines):
        extra = cells is None or any(c.strip(" ") for c in cells[1:])
        yield Row(number, None, text.strip(" ") if extra or not cells else cells[0].strip(" "))


def parse_csv(lines: Iterable[str], source: str) -> Iterator[Row]:
    """Parse CSV with a header naming the peer ID column; cells are trimmed of spaces only."""
    records = _records(lines)
    number, text, cells = next(records, (0, "", None))
    if not number:
        return
    header = [c.strip().lower() for c in cells or [text]]
    peer, vif, project = _header_columns(header, text, source, number)
    for number, text, cells in records:
        if cells is None:  # unreadable row: its text is reported as the invalid ID
            yield Row(number, header[peer], text.strip(" "))
            continue
        got = [c.strip(" ") for c in cells] + [""] * len(header)
        yield Row(
            number,
            header[peer],
            got[peer],
            got[vif] if vif >= 0 else None,
            got[project] if project >= 0 else None,
        )


def _header_columns(names: list[str], text: str, source: str, line: int) -> tuple[int, int, int]:
    """Indexes of the peer, vif and project columns (-1 when absent)."""
    _refuse_interface(names, source, line, None)
    peer = _first(names, PEER_KEYS)
    if peer is None:
        if "\r" in text:
            fix = "save the file with LF or CRLF line endings"
            raise _error(source, line, "lines end with a bare carriage return", fix)
        for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if delimiter in text:
                msg = f"the header is separated by {label}, not commas"
                raise _error(source, line, msg, "save the file as comma-separated CSV (use commas)")
        shown = ", ".join(_display(n) for n in names[:10])
        msg = f"no peer ID column: the header has {shown}"
        if len(names) == 1:  # a plain list of IDs whose first ID is bad?
            msg = f"the first line '{shown}' is neither a header with a vif_peer_id, peer_id or id "
            msg += f"column nor a valid ID: it {id_problem(text.strip(' '))}"
        raise _error(source, line, msg, FIX_COLUMN)
    vif, project = _first(names, VIF_KEYS), _first(names, (PROJECT_KEY,))
    return (
        names.index(peer),
        names.index(vif) if vif else -1,
        names.index(project) if project else -1,
    )


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(parse_int=_Number, parse_float=_Number, parse_constant=_Number)


def _json_error(exc: Exception, source: str, line: int | None = None) -> InputError:
    if isinstance(exc, json.JSONDecodeError):
        where = exc.lineno if line is None else line
        fix = "fix the JSON syntax (is the file truncated?)"
        return _error(source, where, f"invalid JSON: {exc.msg}", fix, f"column {exc.colno}")
    return _error(source, line, "the JSON is nested too deeply", FIX_SHAPES)


def parse_jsonl(lines: Iterable[str], source: str) -> Iterator[Row]:
    """Parse JSON Lines: one ID string or object per line; blank lines are skipped."""
    decoder = _decoder()
    for number, line in enumerate(lines, 1):
        text = line.strip(" \t\r\n")
        if not text:
            continue
        try:
            value = decoder.decode(text)
        except (ValueError, RecursionError) as exc:
            raise _json_error(exc, source, number) from None
        yield _from_value(value, number, None, source)


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
        return _error(self.source, self.line(pos), what, FIX_SHAPES, column)

    def rows(self, value: object, pos: int, column: str) -> list[Row]:
        """Rows of the ID array `value` found at `pos`."""
        if not isinstance(value, list):
            raise self.fail(f"{column} is {_kind(value)}, not an array", pos, column)
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
            raise self.fail(f"the document is {_kind(value)}", start)
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
            raise self.fail(f"virtual_interfaces is {_kind(vifs)}", pos, "virtual_interfaces")
        rows: list[Row] = []
        for i, vif, vif_pos in self.children(pos):
            column = f"virtual_interfaces[{i}]"
            if not isinstance(vif, dict):
                raise self.fail(f"{column} is {_kind(vif)}, not an object", vif_pos, column)
            fields = {k: (v, p) for k, v, p in self.children(vif_pos)}
            peers, peers_pos = fields.get("vif_peers", (None, vif_pos))
            if peers is None:  # an interface listed without its peers has nothing to request
                continue
            vif_id = fields.get("id", (None, 0))[0]
            for row in self.rows(peers, peers_pos, f"{column}.vif_peers"):
                rows.append(replace(row, vif=vif_id) if vif_id is not None else row)
        return rows


# --- validation (pure) --------------------------------------------------------------------------


def _check_project(
    row: Row, seen: tuple[str, int] | None, run_project: str | None, source: str
) -> tuple[str, int] | None:
    """Refuse a row of another project, or an inventory that mixes projects."""
    value = row.project
    if value is None:
        return seen
    fail = "pass the right --project-id, or remove the rows of other projects"
    if not isinstance(value, str):
        raise _error(source, row.line, f"project_id is {_kind(value)}", fail, PROJECT_KEY)
    if not (value := value.strip()):
        return seen
    if run_project is not None and value.lower() != run_project.strip().lower():
        msg = f"project_id '{_display(value)}' is not this run's project {run_project}"
        raise _error(source, row.line, msg, fail, PROJECT_KEY)
    if seen is not None and value.lower() != seen[0].lower():
        msg = f"the inventory mixes projects '{_display(seen[0])}' (line {seen[1]}) and "
        msg += f"'{_display(value)}'"
        raise _error(source, row.line, msg, "split it into one file per project", PROJECT_KEY)
    return seen or (value, row.line)


def collect(
    rows: Iterable[Row], *, source: str, project_id: str | None = None, skip_invalid: bool = False
) -> Inventory:
    """Validate rows: canonical IDs, one project, duplicates collapsed into the first occurrence.

    Invalid IDs are all gathered, then reported in one InputError (count, first lines, first
    reason) unless `skip_invalid`; a project mismatch raises at once, skip_invalid or not.
    """
    requested: dict[str, Requested] = {}
    lines: dict[str, list[int]] = {}
    invalid: list[InvalidRow] = []
    column: str | None = None  # of the first invalid row
    places: list[str] = []  # where the first few invalid rows are, for the error message
    seen: tuple[str, int] | None = None
    for row in rows:
        seen = _check_project(row, seen, project_id, source)
        peer = canonical_uuid(row.peer) if isinstance(row.peer, str) else None
        problem = None if peer else id_problem(row.peer) or "is not a UUID"
        vif = None
        if peer and row.vif is not None and row.vif != "":
            vif = canonical_uuid(row.vif) if isinstance(row.vif, str) else None
            if vif is None:
                problem = f"has vif_id '{_display(row.vif)}' that {id_problem(row.vif)}"
        if peer is None or problem is not None:
            column = column if invalid else row.column
            if len(invalid) < 5:
                plain = row.column is None or row.column in PEER_KEYS
                places.append(str(row.line) if plain else f"{row.line} ({row.column})")
            invalid.append(InvalidRow(row.line, _display(row.peer), problem or ""))
        elif peer in requested:
            lines[peer].append(row.line)
        else:
            requested[peer] = Requested(peer, row.line, vif)
            lines[peer] = [row.line]
    if invalid and not skip_invalid:
        count, head = len(invalid), invalid[0]
        where = ", ".join(places) + (", ..." if count > len(places) else "")
        what = "1 invalid peer ID" if count == 1 else f"{count} invalid peer IDs (lines {where})"
        msg = f"{what}; the first, '{head.raw}', {head.reason}"
        raise _error(source, head.line, msg, FIX_ID, column)
    if not requested and not invalid:
        raise _error(source, None, "inventory has no peer IDs", FIX_EMPTY)
    duplicates = tuple(Duplicate(p, tuple(n)) for p, n in lines.items() if len(n) > 1)
    return Inventory(source, "", tuple(requested.values()), tuple(invalid), duplicates)


# --- I/O shell ----------------------------------------------------------------------------------


class _Readable(typing.Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Source(io.RawIOBase):
    """A byte stream that can hash what it reads and give back a peeked head."""

    def __init__(self, inner: _Readable, *, hashing: bool = False) -> None:
        super().__init__()
        self._inner, self._hashing, self._pending = inner, hashing, b""
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def _read(self, size: int) -> bytes:
        data = self._inner.read(size)
        if self._hashing:
            self.sha.update(data)
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pending:
            data, self._pending = self._pending[: len(view)], self._pending[len(view) :]
        else:
            data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def head(self, size: int) -> bytes:
        """Read up to `size` bytes (fewer only at the end) and keep them to be read again."""
        data = b""
        while len(data) < size and (chunk := self._read(size - len(data))):
            data += chunk
        self._pending = data
        return data

    def drain(self) -> None:
        """Read what is left, so the hash covers every byte of the input."""
        while self._read(1 << 16):
            pass


def _decode(data: bytes, source: str, line: int = 1) -> str:
    """UTF-8 text of `data` (which starts at `line`); a NUL byte or invalid UTF-8 raises."""
    bad = data.find(b"\x00")
    what = "a NUL byte: the file is binary (or UTF-16), not a text inventory"
    if bad < 0:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad, what = exc.start, "invalid UTF-8"
    msg = f"{what} (byte {bad - data.rfind(NL, 0, bad)} of the line)"
    raise _error(source, line + data.count(b"\n", 0, bad), msg, FIX_TEXT)


def _lines(stream: typing.BinaryIO, source: str) -> Iterator[str]:
    """Decoded lines, each at most MAX_LINE_BYTES, read one at a time."""
    for number in itertools.count(1):
        data = stream.readline(MAX_LINE_BYTES + 1)
        if not data:
            return
        if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
            fix = "one ID per line; check that this is the inventory file"
            raise _error(source, number, f"line longer than {MAX_LINE_BYTES >> 10} KiB", fix)
        yield _decode(data.removeprefix(codecs.BOM_UTF8) if number == 1 else data, source, number)


def _json_text(stream: typing.BinaryIO, source: str) -> str:
    data = stream.read(MAX_JSON_BYTES + 1).removeprefix(codecs.BOM_UTF8)
    if len(data) > MAX_JSON_BYTES:
        msg = f"the JSON document is larger than {MAX_JSON_BYTES >> 20} MiB"
        raise _error(source, None, msg, "split it, or convert it to JSON Lines")
    return _decode(data, source)


def _rows(raw: _Source, path: str, source: str) -> Iterator[Row]:
    """Gunzip when the content says so, detect the format, and hand off to the pure parser."""
    buffered = io.BufferedReader(raw)
    stream: _Readable = buffered
    if raw.head(2) == _GZIP_MAGIC:  # by content: a .gz name is neither needed nor trusted
        stream = gzip.GzipFile(fileobj=buffered, mode="rb")
    try:
        text = _Source(stream)
        head = text.head(HEAD_BYTES)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise _error(source, 1, "the file is UTF-16", FIX_TEXT)
        fmt = detect_format(head.decode("utf-8", "replace"), path)
        decoded = io.BufferedReader(text)
        if fmt is Format.JSON:
            yield from parse_json(_json_text(decoded, source), source)
            return
        parser = {Format.CSV: parse_csv, Format.PLAIN: parse_plain, Format.JSONL: parse_jsonl}
        yield from parser[fmt](_lines(decoded, source), source)
    finally:
        if isinstance(stream, gzip.GzipFile):
            stream.close()  # not the file under it: the caller closes that


def read_inventory(
    path: str,
    *,
    project_id: str | None = None,
    skip_invalid: bool = False,
    stdin: typing.BinaryIO | None = None,
) -> Inventory:
    """Read, validate and hash the inventory at `path` ("-" reads `stdin` or sys.stdin)."""
    source = "<stdin>" if path == "-" else path
    try:
        file = (stdin or sys.stdin.buffer) if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        msg = f"cannot open the inventory: {exc.strerror or exc}"
        raise _error(source, None, msg, "check the path and its permissions") from None
    raw = _Source(file, hashing=True)
    try:
        rows = _rows(raw, path, source)
        inventory = collect(rows, source=source, project_id=project_id, skip_invalid=skip_invalid)
        raw.drain()
    except (OSError, EOFError, zlib.error) as exc:
        fix = "check the file; a .gz may be truncated or corrupt (test it with gunzip -t)"
        raise _error(source, None, f"cannot read the inventory: {exc}", fix) from None
    finally:
        if path != "-":
            file.close()
    return replace(inventory, source=path, sha256=raw.sha.hexdigest())
