"""Stream the elements of one array of a JSON document, decoded one at a time (I/O helper).

A saved listing of 600k interfaces is a 300 MB document; `json.loads` of it holds the bytes,
the text and every object at once (~1.5 GB). `array_items` reads the file in small blocks
and hands out the array's elements as it decodes them, so a caller can turn each into a
record (or just count it) and let it go. Anything it cannot stream raises NotStreamable,
and the caller reads the document whole, which reports exactly what is wrong with it.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

__all__ = ["NotStreamable", "array_items"]

_BLOCK = 1 << 15  # measured: small blocks keep the decoded objects in cache
_WS = re.compile(r"[ \t\n\r]*")  # what json skips between tokens
_DECODE = json.JSONDecoder().raw_decode


class NotStreamable(Exception):
    """The document is not (only) what `array_items` streams; read it whole instead."""


class _Text:
    """A file's text, decoded a block at a time; `buf[pos:]` is not consumed yet."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        head = fh.read(_BLOCK)
        self.eof = not head
        self._decoder = codecs.getincrementaldecoder(json.detect_encoding(head))("surrogatepass")
        self.buf = self._decode(head)
        self.pos = 0

    def _decode(self, data: bytes) -> str:
        try:
            return str(self._decoder.decode(data, self.eof))
        except UnicodeDecodeError:
            raise NotStreamable from None

    def more(self) -> None:
        """Append at least as much text again as is pending; NotStreamable at the end."""
        if self.eof:
            raise NotStreamable
        data = self._fh.read(max(_BLOCK, len(self.buf) - self.pos))
        self.eof = not data
        self.buf = self.buf[self.pos :] + self._decode(data)
        self.pos = 0

    def peek(self) -> str:
        """Skip blanks; the next character, or "" at the end of the file."""
        while True:
            self.pos = _skip(self.buf, self.pos)
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self.more()

    def value(self) -> Any:
        """Decode the JSON value at the cursor, reading on until it is complete."""
        while True:
            try:
                value, end = _DECODE(self.buf, self.pos)
            except (ValueError, RecursionError):
                self.more()
                continue
            after = _skip(self.buf, end)
            # What follows a value is one of these: else it was cut (a number: `12.` then `5`).
            if (after < len(self.buf) and self.buf[after] in ",:]}") or self.eof:
                self.pos = end
                return value
            self.more()


def _skip(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def array_items(fh: BinaryIO, key: str) -> Iterator[Any]:
    """Each element of the array `key` of the top-level JSON object in `fh`, one at a time.

    Raises NotStreamable, possibly after some elements, for any other document: invalid JSON
    or encoding, no such array, or the key repeated (json keeps the last one).
    """
    text = _Text(fh)
    if text.peek() != "{":
        raise NotStreamable
    text.pos += 1
    seen = False
    char = text.peek()
    while char == '"':
        name = text.value()
        if text.peek() != ":":
            raise NotStreamable
        text.pos += 1
        if name == key:
            if seen or text.peek() != "[":
                raise NotStreamable
            seen = True
            text.pos += 1
            yield from _array_items(text)
        else:
            text.peek()
            text.value()
        char = text.peek()
        if char == "}":
            text.pos += 1
            if text.peek() or not seen:
                raise NotStreamable
            return
        if char != ",":
            raise NotStreamable
        text.pos += 1
        char = text.peek()
    raise NotStreamable


def _array_items(text: _Text) -> Iterator[Any]:
    """The elements of the array whose `[` was just consumed; the cursor ends after its `]`.

    Elements are decoded a batch at a time when the text between two of them (`sep`, e.g.
    `},\n{`) is known: the batch ends at the last `sep` of the buffer, and json decodes the
    elements before it as one array. JSON brackets balance, so a batch that decodes is exactly
    the next elements; a `sep` that also occurs inside elements makes it fail, and from then on
    elements are decoded one at a time.
    """
    if text.peek() == "]":
        text.pos += 1
        return
    decode, skip = _DECODE, _skip
    sep = ""
    learn = True
    while True:
        if sep:
            if len(text.buf) - text.pos < _BLOCK // 2 and not text.eof:
                text.more()
            buf, pos = text.buf, text.pos
            cut = buf.rfind(sep, pos)
            if cut > pos:
                try:
                    batch = json.loads("[" + buf[pos : cut + 1] + "]")
                except (ValueError, RecursionError):
                    sep, learn = "", False  # the separator occurs inside elements too
                else:
                    text.pos = cut + len(sep) - 1
                    yield from batch
                    continue
        buf = text.buf
        try:
            item, end = decode(buf, text.pos)
        except (ValueError, RecursionError):
            text.more()  # an element cut by the end of the block (broken: NotStreamable at EOF)
            continue
        pos = skip(buf, end)
        if pos >= len(buf) or buf[pos] not in ",]":
            if text.eof:
                raise NotStreamable
            text.more()  # the element (a number: `12.` may go on `5`) or its `,` is cut off
            continue
        char = buf[pos]
        text.pos = pos
        yield item
        if char == "]":
            text.pos += 1
            return
        if char != ",":
            raise NotStreamable
        text.pos = pos = skip(text.buf, text.pos + 1)
        if pos >= len(text.buf):
            text.peek()
        elif learn and text.buf is buf and buf[end - 1] == "}" and buf[pos] == "{":
            sep = buf[end - 1 : pos + 1]
