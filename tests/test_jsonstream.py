"""Tests for bulkdel.jsonstream: one array of a JSON document, element by element."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel import jsonstream
from bulkdel.jsonstream import NotStreamable, array_items

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_members = st.dictionaries(st.text(max_size=6).filter(lambda k: k != "items"), _values, max_size=3)


def stream(data: bytes, key: str = "items", block: int | None = None) -> list[Any]:
    """Every element array_items yields for `data`, with a small block size if given."""
    old = jsonstream._BLOCK
    jsonstream._BLOCK = block or old
    try:
        return list(array_items(io.BytesIO(data), key))
    finally:
        jsonstream._BLOCK = old


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_values, max_size=12),
    _members,
    _members,
    st.sampled_from([None, 1, 2, " ", "\n  "]),
    st.sampled_from([8, 40, 1 << 15]),
    st.booleans(),
)
def test_elements_are_what_json_decodes(
    items: list[Any],
    before: dict[str, Any],
    after: dict[str, Any],
    indent: int | str | None,
    block: int,
    ascii_only: bool,
) -> None:
    """However the document is laid out and cut into blocks, the elements are json's."""
    doc = {**before, "items": items, **{k: v for k, v in after.items() if k not in before}}
    data = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    assert stream(data, block=block) == json.loads(data)["items"]


def test_objects_of_a_compact_listing_come_in_batches() -> None:
    """A listing one interface a line is decoded many elements per json call, same result."""
    items = [{"id": f"v{i}", "vif_peers": [{"id": f"p{i}"}, {"id": f"q{i}"}]} for i in range(500)]
    data = ('{"items":[\n' + ",\n".join(json.dumps(i) for i in items) + "\n]}\n").encode()
    assert stream(data, block=256) == items


def test_an_element_bigger_than_a_block_is_read_whole() -> None:
    """A long element is read on until it is complete."""
    items = [{"id": "x" * 5000, "n": 12345678901234567890}, 3.5, "tail"]
    assert stream(json.dumps({"items": items}).encode(), block=16) == items


def test_utf8_bom_and_utf16_documents_are_decoded() -> None:
    """The encoding is detected as json.loads does (a BOM, or UTF-16)."""
    doc = {"items": ["é", {"ü": 1}]}
    assert stream(b"\xef\xbb\xbf" + json.dumps(doc).encode()) == doc["items"]
    assert stream(json.dumps(doc).encode("utf-16-le"), block=8) == doc["items"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[1, 2]",
        '{"other": []}',
        '{"items": 5}',
        '{"items": [1, 2] "x": 1}',
        '{"items": [1, 2]} trailing',
        '{"items": [1, 2], "items": [3]}',
        '{"items": [1, 2,]}',
        '{"items": [1 2]}',
        '{"items": [1, {"a": ]}',
        '{"items": [1, 2]',
    ],
)
def test_anything_else_is_not_streamable(text: str) -> None:
    """Documents json would refuse, or read differently, raise NotStreamable."""
    with pytest.raises(NotStreamable):
        stream(text.encode(), block=4)


def test_invalid_utf8_is_not_streamable() -> None:
    """Bytes that do not decode are left to the whole-document reader to report."""
    with pytest.raises(NotStreamable):
        stream(b'{"items": ["\xff"]}')


def test_elements_come_before_the_document_is_read_to_its_end() -> None:
    """Elements are handed out as they are decoded: a caller may stop early."""

    def endless() -> Iterator[bytes]:
        yield b'{"items": [1, 2, 3, '
        while True:
            yield b"4, "

    class Source(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks = endless()

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return next(self.chunks)

    got = array_items(Source(), "items")  # type: ignore[arg-type]
    assert [next(got), next(got), next(got)] == [1, 2, 3]
