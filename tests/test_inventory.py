"""Tests for bulkdel.inventory: every format, validation, the hostile-input corpus, fuzzing."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel import inventory as inventory_module
from bulkdel.errors import InputError
from bulkdel.inventory import collect, read_inventory
from bulkdel.inventory_formats import (
    NO_ID,
    Format,
    Row,
    canonical_uuid,
    detect_format,
    id_problem,
    parse_csv,
    parse_json,
    parse_jsonl,
    parse_plain,
)
from bulkdel.models import Duplicate, InvalidRow, Inventory, Requested

A = "68250543-0a13-4ac7-aa36-d018856ac640"
B = "3f1c9a2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b"
C = "9d8c7b6a-5f4e-4d3c-8b2a-190817263544"
V = "0b5f7c1e-2d3a-4b6c-8d9e-0f1a2b3c4d5e"
W = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
PROJECT = "0605768a3300d5762f82c01180692873"
BAD = Path(__file__).parent / "data" / "bad"
CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def ids(inventory: Inventory) -> list[str]:
    return [r.peer_id for r in inventory.requested]


def from_stdin(data: bytes, **kwargs: object) -> Inventory:
    return read_inventory("-", stdin=io.BytesIO(data), **kwargs)  # type: ignore[arg-type]


# --- values --------------------------------------------------------------------------------------


def test_canonical_uuid_lowercases_any_case():
    """Upper- and mixed-case UUIDs come back in lowercase canonical form."""
    assert canonical_uuid(A.upper()) == A
    assert canonical_uuid("68250543-0A13-4ac7-AA36-d018856ac640") == A


@pytest.mark.parametrize(
    "value",
    [
        "",
        f" {A}",
        f"{A}\n",
        "{" + A + "}",
        A.replace("-", ""),
        f"urn:uuid:{A}",
        A[:-1],
        A + "0",
        "68250543_0a13_4ac7_aa36_d018856ac640",
        "g8250543-0a13-4ac7-aa36-d018856ac640",
        A.replace("6", "\u0666"),  # Arabic-Indic six
        A.replace("6", "\uff16"),  # fullwidth six
        f"../virtual-interfaces/{A}",
        "%2e%2e%2f",
    ],
)
def test_canonical_uuid_rejects_near_misses(value):
    """Anything that is not exactly a 36-character hyphenated hex UUID is refused."""
    assert canonical_uuid(value) is None


@given(st.uuids())
def test_canonical_uuid_round_trips_real_uuids(value):
    """Every UUID, in either case, normalises to its standard string."""
    assert canonical_uuid(str(value).upper()) == str(value)


@given(st.text())
def test_canonical_uuid_output_is_always_canonical(text):
    """The function returns None or the lowercase canonical form of its input."""
    result = canonical_uuid(text)
    assert result is None or (CANONICAL.fullmatch(result) and result == text.lower())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (A, None),
        (NO_ID, "no peer ID"),
        (None, "null"),
        (5, "int"),
        ([A], "not an ID string"),
        ("", "empty"),
        (A[:8] + " " + A[9:], "whitespace"),
        (A + "\n", "whitespace"),
        (f"../virtual-interfaces/{A}", "path or URL escape"),
        ("%2e%2e%2f", "path or URL escape"),
        (f"{A},{B}", "more than one column"),
        (f"{A};{B}", "separate columns with commas"),
        ("{" + A + "}", "braces"),
        (A.replace("-", ""), "no dashes"),
        (A.replace("6", "\u0666"), "non-ASCII"),
        ("hello", "36-character UUID"),
    ],
)
def test_id_problem_explains_each_kind_of_bad_id(value, reason):
    """Each kind of bad ID gets a reason that tells the operator what is wrong."""
    problem = id_problem(value)
    assert problem is None if reason is None else reason in (problem or "")


# --- format detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunk", "path", "expected"),
    [
        (f"{A}\n{B}\n", "ids.txt", Format.PLAIN),
        (f"# comment\n\n {A.upper()} \n", "ids.csv", Format.PLAIN),
        (f'"{A}"\n', "ids.csv", Format.JSONL),
        ('"vif_peer_id"\n', "ids.csv", Format.CSV),
        ('"not-an-id"\n', "ids.jsonl", Format.JSONL),
        (f"vif_peer_id,vif_id\n{A},{V}\n", "x.json", Format.CSV),
        (f'"vif_peer_id","vif_id"\n{A},{V}\n', "x", Format.CSV),
        ("\ufeffvif_peer_id\n", "x.csv", Format.CSV),
        (f'[\n "{A}"\n]', "x.txt", Format.JSON),
        ('{\n "vif_peers": []}', "x", Format.JSON),
        ('{"vif_peers": ["x"]}', "x.jsonl", Format.JSONL),
        ('{"virtual_interfaces": []}', "x.json", Format.JSON),
        (f'{{"id": "{A}"}}\n{{"id": "{B}"}}\n', "x.json", Format.JSONL),
        (f'{{"id": "{A}"', "x.ndjson.gz", Format.JSONL),
        ("", "x.csv", Format.CSV),
        ("{" + A + "}\n", "x.txt", Format.JSON),
    ],
)
def test_detect_format_reads_content_first(chunk, path, expected):
    """Content decides the format; the extension only settles a `{` that could be either."""
    assert detect_format(chunk, path) is expected


# --- pure parsers --------------------------------------------------------------------------------


def test_parse_csv_numbers_rows_by_physical_line_and_skips_comments():
    """Rows carry their file line; blank, comment and comma-only lines are skipped."""
    lines = ["# export\n", " Peer_ID , VIF_ID \n", "\n", f"{A} , {V}\n", ",,\n", f'"{B}",\n']
    rows = list(parse_csv(lines, "f.csv"))
    assert rows == [Row(4, "peer_id", A, V, None), Row(6, "peer_id", B, "", None)]


def test_parse_csv_prefers_vif_peer_id_over_id():
    """`vif_peer_id` wins over `id` wherever the columns sit."""
    rows = list(parse_csv(["id,virtual_interface_id,vif_peer_id", f"{V},{W},{A}"], "f"))
    assert rows == [Row(2, "vif_peer_id", A, W, None)]


@given(st.text(alphabet=st.sampled_from(list('ab ,;\t"\\é')), min_size=1))
def test_parse_csv_splits_cells_like_the_csv_module(line):
    """Whatever the quoting, cells are what Python's csv module reads from the line."""
    cells = [c.strip(" ") for c in next(csv.reader([line]))] + ["", ""]
    rows = list(parse_csv(["vif_peer_id,vif_id", line], "f"))
    if any(c.strip() for c in cells):
        assert [(r.peer, r.vif) for r in rows] == [(cells[0], cells[1])]
    else:
        assert rows == []


def test_parse_plain_trims_spaces_but_not_tabs():
    """Surrounding spaces are trimmed; a tab stays and makes the ID invalid."""
    rows = list(parse_plain([f"  {A}  ", f"{B}\t"], "f"))
    assert [r.peer for r in rows] == [A, f"{B}\t"]


def test_parse_json_gives_each_element_its_line():
    """Pretty-printed JSON rows carry the line where their element starts."""
    text = json.dumps({"vif_peers": [A, {"id": B, "vif_id": V}]}, indent=2)
    rows = parse_json(text, "f.json")
    assert [(r.line, r.column, r.peer) for r in rows] == [
        (3, "vif_peers[0]", A),
        (4, "vif_peers[1]", B),
    ]


def test_parse_jsonl_reports_the_bad_line():
    """A syntax error in JSON Lines names its line and column."""
    with pytest.raises(InputError) as info:
        list(parse_jsonl([f'"{A}"', "", '{"id": '], "f.jsonl"))
    assert info.value.line == 3
    assert "invalid JSON" in str(info.value)


def test_collect_rejects_an_invalid_vif_id():
    """A row whose vif_id is not a UUID is invalid even if its peer ID is fine."""
    inventory = collect([Row(1, "id", A, "vif-1")], source="f", skip_invalid=True)
    assert inventory.requested == ()
    assert inventory.invalid[0].line == 1
    assert "vif_id 'vif-1'" in inventory.invalid[0].reason


# --- good formats end to end ---------------------------------------------------------------------


def test_reads_csv_with_all_columns(tmp_path):
    """A CSV with vif_id and project_id columns yields normalised IDs and vif claims."""
    path = write(
        tmp_path,
        "inv.csv",
        f"VIF_PEER_ID,vif_id,Project_ID\r\n{A.upper()},{V.upper()},{PROJECT.upper()}\r\n"
        f"{B},,{PROJECT}\r\n",
    )
    inventory = read_inventory(path, project_id=PROJECT)
    assert inventory.requested == (Requested(A, 2, V), Requested(B, 3, None))
    assert inventory.source == path
    assert inventory.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_reads_plain_list_with_comments_and_bom(tmp_path):
    """A headerless list with a BOM, comments and blank lines yields its IDs in order."""
    path = write(tmp_path, "ids.txt", f"\ufeff# to delete\n{A}\n\n  {B}  \n# end\n")
    assert [(r.peer_id, r.line) for r in read_inventory(path).requested] == [(A, 2), (B, 4)]


@pytest.mark.parametrize(
    "document",
    [
        [A, B],
        [{"vif_peer_id": A}, {"PEER_ID": B}],
        {"vif_peers": [A, B]},
        {"vif_peers": [{"id": A, "vif_id": V, "name": "p"}, {"id": B, "vif_id": V}]},
    ],
)
def test_reads_json_shapes(tmp_path, document):
    """Arrays of strings or objects and {"vif_peers": [...]} all give the same peers."""
    path = write(tmp_path, "inv.json", "\ufeff" + json.dumps(document, indent=2))
    assert ids(read_inventory(path)) == [A, B]


def test_reads_list_virtual_interfaces_response(tmp_path):
    """Every peer of a ListVirtualInterfaces response is requested with its interface ID."""
    listing = {
        "request_id": "r1",
        "virtual_interfaces": [
            {"id": V, "name": "one", "vif_peers": [{"id": A, "vif_id": V}, {"id": B}]},
            {"id": W, "vif_peers": [{"id": C, "address_family": "ipv4"}]},
            {"id": "ffffffff-bbbb-4ccc-8ddd-eeeeeeeeeeee"},
        ],
        "page_info": {"next_marker": ""},
    }
    inventory = read_inventory(write(tmp_path, "listing.json", json.dumps(listing, indent=1)))
    assert [(r.peer_id, r.vif_id) for r in inventory.requested] == [(A, V), (B, V), (C, W)]
    assert all(r.line > 1 for r in inventory.requested)


def test_reads_minified_listing_longer_than_a_line_limit(tmp_path):
    """A one-line JSON document may exceed the 64 KiB line limit of line formats."""
    peers = [str(uuid.UUID(int=i)) for i in range(1, 3000)]
    path = write(tmp_path, "big.json", json.dumps({"vif_peers": peers}))
    assert len(read_inventory(path).requested) == len(peers)


def test_reads_json_lines(tmp_path):
    """JSON Lines mix ID strings and objects; blank lines are skipped."""
    path = write(tmp_path, "inv.jsonl", f'"{A}"\n\n{{"id": "{B}", "vif_id": "{V}"}}\n')
    assert read_inventory(path).requested == (Requested(A, 1, None), Requested(B, 3, V))


def test_reads_stdin_dash():
    """`-` reads the given stdin stream, hashes its bytes and keeps "-" as the source."""
    data = f"{A}\n{B}\n".encode()
    inventory = from_stdin(data)
    assert ids(inventory) == [A, B]
    assert inventory.source == "-"
    assert inventory.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["inv.csv.gz", "inv.csv"])
def test_gunzips_by_content_and_hashes_compressed_bytes(tmp_path, name):
    """gzip is detected by magic bytes, and sha256 covers the bytes as read."""
    data = gzip.compress(f"vif_peer_id\n{A}\n{B}\n".encode())
    path = write(tmp_path, name, data)
    inventory = read_inventory(path)
    assert ids(inventory) == [A, B]
    assert inventory.sha256 == hashlib.sha256(data).hexdigest()


def test_gzipped_json_from_stdin():
    """A gzipped JSON document on stdin is read like a file."""
    assert ids(from_stdin(gzip.compress(json.dumps([A]).encode()))) == [A]


def test_a_gz_name_with_plain_content_is_read_as_text(tmp_path):
    """A .gz extension on uncompressed text is not trusted."""
    assert ids(read_inventory(write(tmp_path, "ids.gz", f"{A}\n"))) == [A]


def test_duplicates_collapse_into_the_first_occurrence_across_case(tmp_path):
    """Case variants of one ID are one peer; duplicates list every line it appeared on."""
    path = write(tmp_path, "d.csv", f"peer_id,vif_id\n{A},{V}\n{B},\n{A.upper()},{W}\n{A},\n")
    inventory = read_inventory(path)
    assert inventory.requested == (Requested(A, 2, V), Requested(B, 3, None))
    assert inventory.duplicates == (Duplicate(A, (2, 4, 5)),)


# --- validation ----------------------------------------------------------------------------------


def test_project_id_matches_case_insensitively(tmp_path):
    """A project_id column equal to the run's project, in another case, is accepted."""
    path = write(tmp_path, "p.csv", f"vif_peer_id,project_id\n{A},{PROJECT.upper()}\n")
    assert ids(read_inventory(path, project_id=PROJECT)) == [A]


def test_project_mismatch_raises_even_with_skip_invalid(tmp_path):
    """A row of another project stops the run; --skip-invalid does not hide it."""
    path = write(tmp_path, "p.csv", f"vif_peer_id,project_id\n{A},{PROJECT}\n{B},other\n")
    with pytest.raises(InputError) as info:
        read_inventory(path, project_id=PROJECT, skip_invalid=True)
    assert info.value.line == 3
    assert info.value.column == "project_id"
    assert "'other' is not this run's project" in str(info.value)


def test_mixed_projects_raise_without_a_run_project():
    """An inventory that spans two projects is refused even before the project is known."""
    data = json.dumps([{"id": A, "project_id": "p1"}, {"id": B, "project_id": "p2"}], indent=1)
    with pytest.raises(InputError, match="mixes projects"):
        from_stdin(data.encode())


def test_skip_invalid_keeps_invalid_rows_as_values(tmp_path):
    """With skip_invalid, bad rows become InvalidRow (raw cut to 80 chars) and valid ones stay."""
    long_bad = "x" * 200
    path = write(tmp_path, "s.csv", f"vif_peer_id\n{A}\n../{B}\n{long_bad}\n{C}\n")
    inventory = read_inventory(path, skip_invalid=True)
    assert ids(inventory) == [A, C]
    assert [(r.line, r.raw) for r in inventory.invalid] == [(3, f"../{B}"), (4, "x" * 80)]
    assert "path" in inventory.invalid[0].reason


def test_skip_invalid_with_only_invalid_rows_returns_them():
    """Skipping every row is not 'no IDs': the run reports them as invalid outcomes."""
    inventory = from_stdin(b"vif_peer_id\nnope\n", skip_invalid=True)
    assert inventory.requested == ()
    assert inventory.invalid == (InvalidRow(2, "nope", id_problem("nope") or ""),)


def test_invalid_rows_are_counted_in_one_error(tmp_path):
    """Without skip_invalid every invalid row is counted; the error points at the first."""
    rows = "\n".join(["vif_peer_id", A, "a", B, "b", "c", "d", "e", "f"])
    with pytest.raises(InputError) as info:
        read_inventory(write(tmp_path, "many.csv", rows))
    message = str(info.value)
    assert info.value.line == 3
    assert "6 invalid peer IDs (lines 3, 5, 6, 7, 8, ...)" in message
    assert "--skip-invalid" in message


def test_json_errors_name_the_element():
    """A bad element of a one-line JSON array is located by its index."""
    with pytest.raises(InputError) as info:
        from_stdin(json.dumps([A, B, 7]).encode())
    assert info.value.column == "element 2"
    assert "(element 2)" in str(info.value)


def test_line_limit_is_64_kib():
    """A 64 KiB line is read (and judged as an ID); one byte more is refused as too long."""
    limit = inventory_module.MAX_LINE_BYTES
    with pytest.raises(InputError, match="invalid peer ID"):
        from_stdin(b"vif_peer_id\n" + b"a" * limit + b"\n")
    with pytest.raises(InputError, match="longer than 64 KiB"):
        from_stdin(b"vif_peer_id\n" + b"a" * (limit + 1))


def test_json_size_cap(monkeypatch):
    """A JSON document over the size cap is refused with a pointer to JSON Lines."""
    monkeypatch.setattr(inventory_module, "MAX_JSON_BYTES", 100)
    with pytest.raises(InputError, match="JSON Lines"):
        from_stdin(json.dumps([A, B, C]).encode())


def test_stops_at_a_structural_error_without_reading_everything():
    """Line formats stream: a NUL on line 2 raises without reading the endless rest."""

    class Endless(io.RawIOBase):
        served = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = b"vif_peer_id\n\x00\n" if self.served == 0 else b"x" * len(buffer)
            n = min(len(buffer), len(chunk))
            buffer[:n] = chunk[:n]
            self.served += n
            assert self.served < 64 * 1024 * 1024, "read far past the error"
            return n

    with pytest.raises(InputError) as info:
        read_inventory("-", stdin=io.BufferedReader(Endless()))
    assert info.value.line == 2


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unopenable_path_names_the_file(tmp_path, kind):
    """A missing file or a directory is an InputError that names the path."""
    path = str(tmp_path / "nope.csv") if kind == "missing" else str(tmp_path)
    with pytest.raises(InputError) as info:
        read_inventory(path)
    assert path in str(info.value)


# --- hostile-input corpus ------------------------------------------------------------------------

#: Every file in tests/data/bad: the line the error must name (None: the whole file) and a
#: fragment of the message. Read with project_id=PROJECT.
CORPUS: dict[str, tuple[int | None, str]] = {
    "binary.bin": (1, "NUL byte"),
    "bom_bad_content.csv": (2, "1 invalid peer ID"),
    "braces_uuid.csv": (2, "braces"),
    "comments_only.csv": (None, "no peer IDs"),
    "crlf_only_cr.csv": (1, "carriage return"),
    "empty.csv": (None, "no peer IDs"),
    "empty_array.json": (None, "no peer IDs"),
    "empty_id_cell.csv": (2, "is empty"),
    "extra_data.json": (2, "Extra data"),
    "fake_gzip.gz": (None, "cannot read"),
    "fullwidth_digits.txt": (1, "non-ASCII"),
    "gzip_empty.csv.gz": (None, "no peer IDs"),
    "gzip_of_garbage.gz": (1, "binary"),
    "header_is_bad_first_id.txt": (1, "neither a header"),
    "header_only.csv": (None, "no peer IDs"),
    "huge_number.json": (2, "a number"),
    "internal_whitespace.csv": (3, "whitespace"),
    "invalid_utf8.csv": (3, "invalid UTF-8"),
    "invalid_vif_id.csv": (2, "vif_id 'not-a-vif'"),
    "json_bool.json": (1, "true/false"),
    "json_deep_nesting.json": (None, "nested too deeply"),
    "json_infinity.json": (1, "a number"),
    "json_nested_arrays.json": (1, "an array"),
    "json_null.json": (3, "null"),
    "json_number.json": (1, "(element 1)"),
    "json_object_without_id.json": (2, "no peer ID"),
    "json_project_number.json": (1, "project_id is a number"),
    "json_top_level_wrong_key.json": (1, "no vif_peers or virtual_interfaces"),
    "jsonl_one_bad_line.jsonl": (3, "invalid JSON"),
    "jsonl_wrong_type.jsonl": (2, "a number"),
    "long_line.csv": (2, "longer than 64 KiB"),
    "lookalike_digits.csv": (3, "non-ASCII"),
    "missing_id_column.csv": (1, "no peer ID column"),
    "mixed_project_id.csv": (3, "not this run's project"),
    "newline_in_id.json": (3, "line break"),
    "no_dashes.csv": (2, "no dashes"),
    "non_uuid_ids.csv": (3, "2 invalid peer IDs (lines 3, 4)"),
    "nul_bytes.csv": (3, "NUL byte"),
    "path_traversal.csv": (3, "path or URL escape"),
    "plain_two_columns.txt": (1, "more than one column"),
    "project_mismatch.csv": (2, "not this run's project"),
    "quoted_newline.csv": (2, "invalid peer IDs"),
    "semicolon_delimiter.csv": (1, "use commas"),
    "tab_delimiter.tsv": (1, "use commas"),
    "tab_in_id.jsonl": (2, "whitespace"),
    "truncated.csv.gz": (None, "cannot read"),
    "truncated.json": (3, "Unterminated string"),
    "unwrapped_interfaces.json": (2, "virtual interface"),
    "url_escaped.txt": (2, "path or URL escape"),
    "urn_prefix.csv": (2, "36-character UUID"),
    "utf16.csv": (1, "UTF-16"),
    "vif_peers_not_array.json": (1, "not an array"),
    "virtual_interfaces_not_objects.json": (3, "not an object"),
    "whitespace_only.txt": (None, "no peer IDs"),
}


def test_corpus_is_complete_and_small():
    """Every corpus file has an expectation, there are at least 25, and each is under 2 MB."""
    files = {p.name: p.stat().st_size for p in BAD.iterdir()}
    assert set(files) == set(CORPUS)
    assert len(files) >= 25
    assert max(files.values()) < 2 * 1024 * 1024


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_raises_input_error_naming_file_and_line(name):
    """Each hostile file is refused with an InputError naming the file, line and problem."""
    line, fragment = CORPUS[name]
    path = str(BAD / name)
    with pytest.raises(InputError) as info:
        read_inventory(path, project_id=PROJECT)
    message = str(info.value)
    assert message.startswith(path if line is None else f"{path}:{line}")
    assert info.value.line == line
    assert fragment in message
    assert info.value.fix


def test_mixed_project_file_is_refused_without_a_run_project():
    """The mixed-project corpus file is refused even when no --project-id is given."""
    with pytest.raises(InputError, match="mixes projects"):
        read_inventory(str(BAD / "mixed_project_id.csv"))


# --- fuzzing -------------------------------------------------------------------------------------

PIECES = [A, A.upper(), B, V, "vif_peer_id", "id", "vif_id", "project_id", "vif_peers"]
PIECES += ["virtual_interfaces", ",", ";", "\t", "\n", "\r\n", "\r", " ", "#", "[", "]", "{"]
PIECES += ["}", '"', ":", "null", "1e999", "7", "\ufeff", "\x00", "../", "%2e", "\\u0000", "é"]


def assert_parses_or_input_error(data: bytes) -> None:
    """Either every requested ID is canonical, or the error is an InputError naming stdin."""
    requested: tuple[Requested, ...] = ()
    try:
        inventory = from_stdin(data)
    except InputError as exc:
        message = str(exc)
    else:
        message, requested = "<stdin>", inventory.requested
        assert requested
    assert message.startswith("<stdin>")
    for row in requested:
        assert CANONICAL.fullmatch(row.peer_id)
        assert row.vif_id is None or CANONICAL.fullmatch(row.vif_id)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(data):
    """Arbitrary bytes parse to canonical UUIDs or raise InputError, never anything else."""
    assert_parses_or_input_error(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=40))
def test_fuzz_inventory_shaped_text(pieces):
    """Text built from inventory fragments parses to canonical UUIDs or raises InputError."""
    assert_parses_or_input_error("".join(pieces).encode("utf-8", "surrogatepass"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_fuzz_gzipped_text(pieces):
    """The same holds behind gzip, whole or truncated."""
    packed = gzip.compress("".join(pieces).encode())
    assert_parses_or_input_error(packed)
    assert_parses_or_input_error(packed[: len(packed) // 2])


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.sampled_from([A]),
        lambda inner: st.lists(inner) | st.dictionaries(st.sampled_from(PIECES), inner),
        max_leaves=20,
    )
)
def test_fuzz_json_values(value):
    """Any JSON value as a document parses to canonical UUIDs or raises InputError."""
    assert_parses_or_input_error(json.dumps(value, indent=1).encode())
