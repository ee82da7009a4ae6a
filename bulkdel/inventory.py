"""Read and validate an inventory of vif peer IDs: CSV, plain list, JSON or JSON Lines.

`collect` validates rows (from `bulkdel.inventory_formats`) into an `Inventory`, and
`read_inventory` is the I/O shell: open or stdin, hash, gunzip, decode, detect, parse. Big
inventories are read in blocks; a block whose lines are all exactly one ID each is taken in
bulk (checked with a few C-level passes), and any other line goes through the parsers.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import itertools
import operator
import sys
import typing
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace

from bulkdel.errors import InputError
from bulkdel.gcpause import gc_paused
from bulkdel.inventory_formats import (
    EXAMPLE_ID,
    PEER_KEYS,
    PROJECT_KEY,
    Format,
    IdRun,
    LineReader,
    Row,
    canonical_uuid,
    decode_json,
    detect_format,
    display,
    id_problem,
    input_error,
    kind_of,
    parse_json,
)
from bulkdel.models import Duplicate, InvalidRow, Inventory, Requested

if typing.TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAX_LINE_BYTES = 64 * 1024
MAX_JSON_BYTES = 128 * 1024 * 1024
HEAD_BYTES = 1024 * 1024  # enough to see the first meaningful line of any sane inventory
BLOCK_BYTES = 1024 * 1024  # line formats are read (and checked in bulk) this much at a time
FIX_ID = (
    f"IDs must be 36-character UUIDs such as {EXAMPLE_ID}; remove the row or pass --skip-invalid"
)
FIX_TEXT = "export the inventory as UTF-8 text (CSV, JSON or JSON Lines)"
FIX_EMPTY = "give one peer ID per line, a CSV with a vif_peer_id column, or JSON"
_GZIP_MAGIC = b"\x1f\x8b"
NL = b"\n"
_SHAPE = b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_HEX = b"0123456789abcdefABCDEF"
_LOWER = bytes.maketrans(b"ABCDEF", b"abcdef")


# --- bulk fast paths (pure) ---------------------------------------------------------------------


def _uniform(block: bytes, wrap: bytes) -> bytes | None:
    """The line end when every line of `block` is exactly `wrap + UUID + wrap` and that end.

    Strided slices check that each fixed character sits where it must; counts then show there
    are no others, and a translate shows the rest is hex: a few passes in C, no per-line Python.
    """
    for eol in (b"\n", b"\r\n"):
        shape = wrap + _SHAPE + wrap + eol
        width = len(shape)
        n, rest = divmod(len(block), width)
        fixed = {c for c in shape if c != ord("x")}
        if (
            n
            and not rest
            and all(block.count(c) == n * shape.count(c) for c in fixed)
            and all(block[i::width].count(c) == n for i, c in enumerate(shape) if c in fixed)
            and not block.translate(None, _HEX + bytes(fixed))
        ):
            return eol
    return None


def _uniform_ids(block: bytes, wrap: bytes) -> list[str] | None:
    """The lowercase IDs of `block` when each line is one `wrap + UUID + wrap`, else None."""
    if _uniform(block, wrap) is None:
        return None
    ids = block.translate(_LOWER, wrap + b"\r").decode("ascii").split("\n")
    ids.pop()  # after the last line end
    return ids


def _string_array(text: str) -> list[Row | IdRun] | None:
    """Rows of a JSON array of plain strings, in bulk; None for any other document.

    The walker gives the same rows, element by element; here json decodes the array in C,
    and each element's line comes from counting quotes per line (no escapes: a quote always
    opens or closes an element, and strings never span lines).
    """
    if "\\" in text or not text.lstrip(" \t\r\n").startswith("["):
        return None
    try:
        values = decode_json(text)
    except (ValueError, RecursionError):
        return None  # the walker reports it, with its line
    if not isinstance(values, list) or not set(map(type, values)) <= {str}:
        return None
    quotes = map(str.count, text.split("\n"), itertools.repeat('"'))
    per_line = map(operator.rshift, quotes, itertools.repeat(1))  # elements starting on each line
    lines = list(itertools.chain.from_iterable(map(itertools.repeat, itertools.count(1), per_line)))
    if len(lines) != len(values):
        return None
    block = "\n".join([*values, ""]).encode()
    if _uniform(block, b"") is not None:
        lowered = block.translate(_LOWER)
        ids = values if lowered == block else lowered.decode("ascii").split("\n")[:-1]
        return [IdRun(lines, ids)]
    return [
        IdRun((line,), [peer])
        if (peer := canonical_uuid(value))
        else Row(line, f"element {i}", value)
        for i, (value, line) in enumerate(zip(values, lines, strict=True))
    ]


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
        raise input_error(source, row.line, f"project_id is {kind_of(value)}", fail, PROJECT_KEY)
    if not (value := value.strip()):
        return seen
    if run_project is not None and value.lower() != run_project.strip().lower():
        msg = f"project_id '{display(value)}' is not this run's project {run_project}"
        raise input_error(source, row.line, msg, fail, PROJECT_KEY)
    if seen is not None and value.lower() != seen[0].lower():
        msg = f"the inventory mixes projects '{display(seen[0])}' (line {seen[1]}) and "
        msg += f"'{display(value)}'"
        raise input_error(source, row.line, msg, "split it into one file per project", PROJECT_KEY)
    return seen or (value, row.line)


def collect(
    rows: Iterable[Row | IdRun],
    *,
    source: str,
    project_id: str | None = None,
    skip_invalid: bool = False,
) -> Inventory:
    """Validate rows: canonical IDs, one project, duplicates collapsed into the first occurrence.

    Invalid IDs are all gathered, then reported in one InputError (count, first lines, first
    reason) unless `skip_invalid`; a project mismatch raises at once, skip_invalid or not.
    """
    peers: list[str] = []  # every valid row, in order; duplicates are resolved at the end
    lines: list[int] = []
    vifs: list[str | None] = []
    invalid: list[InvalidRow] = []
    column: str | None = None  # of the first invalid row
    places: list[str] = []  # where the first few invalid rows are, for the error message
    seen: tuple[str, int] | None = None
    for row in rows:
        if isinstance(row, IdRun):
            peers += row.peers
            lines += row.lines
            vifs += itertools.repeat(None, len(row.peers))
            continue
        seen = _check_project(row, seen, project_id, source)
        peer = canonical_uuid(row.peer) if isinstance(row.peer, str) else None
        problem = None if peer else id_problem(row.peer) or "is not a UUID"
        vif = None
        if peer and row.vif is not None and row.vif != "":
            vif = canonical_uuid(row.vif) if isinstance(row.vif, str) else None
            if vif is None:
                problem = f"has vif_id '{display(row.vif)}' that {id_problem(row.vif)}"
        if peer is None or problem is not None:
            column = column if invalid else row.column
            if len(invalid) < 5:
                plain = row.column is None or row.column in PEER_KEYS
                places.append(str(row.line) if plain else f"{row.line} ({row.column})")
            invalid.append(InvalidRow(row.line, display(row.peer), problem or ""))
        else:
            peers.append(peer)
            lines.append(row.line)
            vifs.append(vif)
    if invalid and not skip_invalid:
        count, head = len(invalid), invalid[0]
        where = ", ".join(places) + (", ..." if count > len(places) else "")
        what = "1 invalid peer ID" if count == 1 else f"{count} invalid peer IDs (lines {where})"
        msg = f"{what}; the first, '{head.raw}', {head.reason}"
        raise input_error(source, head.line, msg, FIX_ID, column)
    if not peers and not invalid:
        raise input_error(source, None, "inventory has no peer IDs", FIX_EMPTY)
    requested, duplicates = _first_occurrences(peers, lines, vifs)
    return Inventory(source, "", requested, tuple(invalid), duplicates)


def _first_occurrences(
    peers: list[str], lines: list[int], vifs: list[str | None]
) -> tuple[tuple[Requested, ...], tuple[Duplicate, ...]]:
    """One Requested per peer, from its first row; and every repeated peer with all its lines."""
    if len(set(peers)) == len(peers):  # the common case: built in one pass in C
        return tuple(map(Requested, peers, lines, vifs)), ()
    first: dict[str, int] = {}
    repeats: dict[str, list[int]] = {}
    for i, peer in enumerate(peers):
        if (j := first.setdefault(peer, i)) != i:
            repeats.setdefault(peer, [lines[j]]).append(lines[i])
    requested = tuple(Requested(peers[i], lines[i], vifs[i]) for i in first.values())
    order = sorted(repeats, key=first.__getitem__)  # by first occurrence
    return requested, tuple(Duplicate(p, tuple(repeats[p])) for p in order)


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
    raise input_error(source, line + data.count(b"\n", 0, bad), msg, FIX_TEXT)


def _blocks(stream: typing.BinaryIO) -> Iterator[bytes]:
    """The stream in blocks of whole lines, about BLOCK_BYTES each; the last may lack its LF."""
    rest = b""
    while chunk := stream.read(BLOCK_BYTES):
        data = rest + chunk if rest else chunk
        cut = data.rfind(NL) + 1
        if not cut and len(data) <= MAX_LINE_BYTES:
            rest = data  # no line end yet
            continue
        cut = cut or len(data)  # a line already too long: _split_block reports it
        yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest


def _split_block(block: bytes, first: int, source: str) -> tuple[list[str], InputError | None]:
    """The lines of `block` (numbered from `first`) up to a bad one, and the error it raises.

    A line is bad when it is longer than MAX_LINE_BYTES, holds a NUL byte or is not UTF-8.
    The whole block is decoded at once; only a block with a bad line goes line by line.
    """
    try:
        text = None if b"\x00" in block else block.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None:
        lines = text.split("\n")
        if block.endswith(NL):
            lines.pop()
        longest = max(map(len, lines)) if len(block) > MAX_LINE_BYTES else 0
        # Characters are bytes in ASCII, and at most a quarter of the bytes in UTF-8.
        if longest <= (MAX_LINE_BYTES if block.isascii() else MAX_LINE_BYTES // 4):
            if first == 1:
                lines[0] = lines[0].removeprefix("\ufeff")
            return lines, None
    lines = []
    pieces = block.split(NL)
    if block.endswith(NL):
        pieces.pop()
    for number, data in enumerate(pieces, first):
        if len(data) > MAX_LINE_BYTES:
            fix = "one ID per line; check that this is the inventory file"
            msg = f"line longer than {MAX_LINE_BYTES >> 10} KiB"
            return lines, input_error(source, number, msg, fix)
        try:
            lines.append(
                _decode(data.removeprefix(codecs.BOM_UTF8) if number == 1 else data, source, number)
            )
        except InputError as exc:  # raised by the caller once the lines before it are read
            return lines, exc
    return lines, None


def _line_items(stream: typing.BinaryIO, fmt: Format, source: str) -> Iterator[Row | IdRun]:
    """Rows of a line format, block by block; lines are numbered across blocks."""
    reader = LineReader(fmt, source)
    number = 1
    for block in _blocks(stream):
        ids = None if reader.wrap is None else _uniform_ids(block, reader.wrap)
        if ids is not None:
            yield IdRun(range(number, number + len(ids)), ids)
            number += len(ids)
            continue
        lines, error = _split_block(block, number, source)
        yield from reader.feed(number, lines)
        if error is not None:
            raise error
        number += len(lines)


def _json_text(stream: typing.BinaryIO, source: str) -> str:
    data = stream.read(MAX_JSON_BYTES + 1).removeprefix(codecs.BOM_UTF8)
    if len(data) > MAX_JSON_BYTES:
        msg = f"the JSON document is larger than {MAX_JSON_BYTES >> 20} MiB"
        raise input_error(source, None, msg, "split it, or convert it to JSON Lines")
    return _decode(data, source)


def _rows(raw: _Source, path: str, source: str) -> Iterator[Row | IdRun]:
    """Gunzip when the content says so, detect the format, and hand off to the parser."""
    buffered = io.BufferedReader(raw)
    stream: _Readable = buffered
    if raw.head(2) == _GZIP_MAGIC:  # by content: a .gz name is neither needed nor trusted
        stream = gzip.GzipFile(fileobj=buffered, mode="rb")
    try:
        text = _Source(stream)
        head = text.head(HEAD_BYTES)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise input_error(source, 1, "the file is UTF-16", FIX_TEXT)
        fmt = detect_format(head.decode("utf-8", "replace"), path)
        decoded = io.BufferedReader(text)
        if fmt is Format.JSON:
            document = _json_text(decoded, source)
            yield from _string_array(document) or parse_json(document, source)
            return
        yield from _line_items(decoded, fmt, source)
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
        raise input_error(source, None, msg, "check the path and its permissions") from None
    raw = _Source(file, hashing=True)
    try:
        with gc_paused():
            rows = _rows(raw, path, source)
            inventory = collect(
                rows, source=source, project_id=project_id, skip_invalid=skip_invalid
            )
            raw.drain()
    except (OSError, EOFError, zlib.error) as exc:
        fix = "check the file; a .gz may be truncated or corrupt (test it with gunzip -t)"
        raise input_error(source, None, f"cannot read the inventory: {exc}", fix) from None
    finally:
        if path != "-":
            file.close()
    return replace(inventory, source=path, sha256=raw.sha.hexdigest())
