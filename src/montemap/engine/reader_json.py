"""The ItemReader's JSON and JSONL inputs, decoded incrementally.

A ``JSON`` object must hold one top-level array, or with ``ItemsPointer`` an array
that JSON Pointer (RFC 6901) names inside the document: its elements are decoded
one at a time (errors name the line and column); the members and elements before
it are decoded and dropped one by one, what follows it is not read. A ``JSONL``
object holds one value a line.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any, NoReturn

from montemap.engine.reader_config import ReaderSource, reader_failure
from montemap.engine.reader_streams import failure_for, open_object, text_stream
from montemap.errors import StatesError
from montemap.storage.base import ObjectStore, ObjectStoreError

__all__ = ["json_items", "jsonl_items"]

_CHUNK = 64 * 1024


class _NotJson(ValueError):
    """What Python's ``json`` reads but JSON has not: NaN, Infinity, a number no double
    holds. Items with them would make output text no JSON parser reads."""

    def __init__(self, word: str) -> None:
        super().__init__(f"{word} is not a JSON value")


def _constant(word: str) -> Any:
    raise _NotJson(word)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(text)
    return value


def _decoder() -> json.JSONDecoder:
    """A decoder of standard JSON only (see :class:`_NotJson`); integers keep the C
    parser's own conversion (a parse_int hook doubles the decoding time)."""
    return json.JSONDecoder(parse_constant=_constant, parse_float=_float)


def _refusal(exc: ValueError) -> str:
    """Why a value was refused: :class:`_NotJson`, or an integer of more digits than
    Python converts (its message less the advice to raise the limit)."""
    return str(exc).split("; use sys.", 1)[0]


def json_items(store: ObjectStore, source: ReaderSource) -> Iterator[Any]:
    wrap = failure_for(source.where)
    with open_object(store, source.bucket, source.key) as raw, text_stream(raw) as text:
        try:
            stream = _JsonArrayStream(text, source.where)
            if source.items_pointer:
                stream.descend(source.items_pointer)
            yield from stream.items()
        except StatesError:
            raise
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)


class _JsonArrayStream:
    """Decodes the elements of one top-level JSON array from a text stream, one at a time.

    Only the element being decoded (and one read-ahead chunk) is in memory;
    positions are tracked so errors name the line and column.
    """

    def __init__(self, text: io.TextIOBase, where: str) -> None:
        self._text = text
        self._where = where
        self._decoder = _decoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # line of self._buf[0]
        self._col = 1  # column of self._buf[0]
        self._nested = False  # the array is inside the document (ItemsPointer)

    def descend(self, pointer: str) -> None:
        """Move to the value the JSON Pointer ``pointer`` names (its array is then the
        one :meth:`items` reads); what it passes is decoded and dropped."""
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
        for depth, token in enumerate(tokens):
            c = self._next_char()
            found = False
            if c == "{":
                self._pos += 1
                found = self._to_member(token)
            elif c == "[":
                self._pos += 1
                found = self._to_element(token)
            elif c is None:
                self._error("unexpected end of data; expected a value")
            if not found:
                at = "/".join(pointer.split("/")[: depth + 1]) or "the document"
                raise reader_failure(
                    f"{self._where}: the ItemsPointer {pointer!r} names nothing: "
                    f"no {token!r} in the value at {at!r}"
                )
        self._nested = True

    def _to_member(self, name: str) -> bool:
        """After an object's ``{``: move to the value of its member ``name``."""
        c = self._next_char()
        if c == "}":
            return False
        while True:
            if c != '"':
                self._error("expected a member name in double quotes")
            key = self._value()
            if self._next_char() != ":":
                self._error("expected ':' after a member name")
            self._pos += 1
            if key == name:
                return True
            self._value()
            c = self._next_char()
            if c == "}":
                return False
            if c != ",":
                self._error("expected ',' or '}' after an object member")
            self._pos += 1
            c = self._next_char()

    def _to_element(self, token: str) -> bool:
        """After an array's ``[``: move to the element ``token`` names (its index)."""
        if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token[0] == "0"):
            return False
        index = int(token)
        if self._next_char() == "]":
            return False
        for _ in range(index):
            self._value()
            c = self._next_char()
            if c == "]":
                return False
            if c != ",":
                self._error("expected ',' or ']' after an array element")
            self._pos += 1
        return True

    def items(self) -> Iterator[Any]:
        c = self._next_char()
        if c is None:
            raise reader_failure(f"{self._where} is empty; expected a JSON array")
        if c != "[":
            value = self._value()  # valid JSON that is not an array, or an error
            del value
            raise reader_failure("Attempting to map over non-iterable node.")
        self._pos += 1
        c = self._next_char()
        if c == "]":
            self._pos += 1
        else:
            while True:
                yield self._value()
                c = self._next_char()
                if c == ",":
                    self._pos += 1
                    continue
                if c == "]":
                    self._pos += 1
                    break
                self._error("expected ',' or ']' after an array element")
        if not self._nested and self._next_char() is not None:
            self._error("unexpected data after the top-level array")

    def _value(self) -> Any:
        if self._next_char() is None:
            self._error("unexpected end of data; expected a value")
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                offset = exc.pos - self._pos  # _fill() drops the consumed text
                if self._fill():
                    continue
                self._error(exc.msg, self._pos + offset)
            except ValueError as exc:  # NaN, Infinity, a number too large or too long: no
                self._error(_refusal(exc))  # more text makes it JSON (a prefix's is the value's)
            # A number (or literal) that ends the buffer may continue in the next chunk.
            if end == len(self._buf) and self._fill():
                continue
            self._pos = end
            return value

    def _next_char(self) -> str | None:
        """The next non-whitespace character (not consumed), or None at the end."""
        while True:
            buf, pos = self._buf, self._pos
            n = len(buf)
            while pos < n and buf[pos] in " \t\r\n":
                pos += 1
            self._pos = pos
            if pos < n:
                return buf[pos]
            if not self._fill():
                return None

    def _fill(self) -> bool:
        """Read more text, dropping what is consumed; False at the end of the stream."""
        if self._eof:
            return False
        if self._pos:
            consumed = self._buf[: self._pos]
            newlines = consumed.count("\n")
            if newlines:
                self._line += newlines
                self._col = len(consumed) - consumed.rfind("\n")
            else:
                self._col += len(consumed)
            self._buf = self._buf[self._pos :]
            self._pos = 0
        chunk = self._text.read(max(_CHUNK, len(self._buf)))
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _error(self, message: str, pos: int | None = None) -> NoReturn:
        at = self._pos if pos is None else pos
        before = self._buf[:at]
        newlines = before.count("\n")
        line = self._line + newlines
        col = at - before.rfind("\n") if newlines else self._col + at
        raise reader_failure(
            f"{self._where} is not a valid JSON array: {message} at line {line} column {col}"
        )


# JSONL ---------------------------------------------------------------------------


def jsonl_items(store: ObjectStore, source: ReaderSource) -> Iterator[Any]:
    wrap = failure_for(source.where)
    decode = _decoder().decode
    with open_object(store, source.bucket, source.key) as raw, text_stream(raw) as text:
        try:
            for number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    yield decode(line)
                except json.JSONDecodeError as exc:
                    raise reader_failure(
                        f"{source.where} line {number} is not valid JSON: {exc.msg} "
                        f"(column {exc.colno})"
                    )
                except ValueError as exc:  # NaN, Infinity, a number too large or too long
                    raise reader_failure(
                        f"{source.where} line {number} is not valid JSON: {_refusal(exc)}"
                    )
        except StatesError:
            raise
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)
