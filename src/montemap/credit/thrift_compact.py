"""Apache Thrift's compact protocol, generically: enough to read, edit and write back
Parquet's footer (``FileMetaData`` and its ``RowGroup`` s) without a schema.

A struct is a :class:`Struct`, a list of ``(field id, wire type, value)`` in the order
read, so fields this module knows nothing about are written back as they came. The
encoding is the one Apache Thrift's C++ library writes (field ids as deltas when they
fit in four bits, the short list header below 15 elements, minimal varints), so a
struct read and written unchanged gives the same bytes.

Values by wire type: booleans ``bool``; byte, i16, i32, i64 ``int``; double ``float``;
binary ``bytes``; list and set :class:`Items`; map :class:`Pairs`; struct :class:`Struct`;
and, to write, :class:`Raw` (a value's bytes as read).

Decoding a whole struct into objects costs ~3 us a value in Python; :func:`fields` and
:func:`rewrite` walk the bytes instead (a few times faster): the first gives a struct's
fields as byte spans, the second copies a struct while editing some of its integers
(nested in structs and lists of structs), the rest of its bytes as they were.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Union

from montemap.errors import MontemapError

__all__ = [
    "BINARY",
    "BYTE",
    "DOUBLE",
    "FALSE",
    "I16",
    "I32",
    "I64",
    "LIST",
    "MAP",
    "SET",
    "STRUCT",
    "TRUE",
    "Edits",
    "Items",
    "Pairs",
    "Raw",
    "Struct",
    "ThriftError",
    "decode",
    "encode",
    "encode_fields",
    "fields",
    "list_field_header",
    "list_header",
    "rewrite",
]

TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)
_INTS = frozenset((I16, I32, I64))
_DOUBLE = _struct.Struct("<d")
#: Nesting deeper than this is refused (Parquet's footer nests a few levels).
MAX_DEPTH = 64


class ThriftError(MontemapError, ValueError):
    """Bytes that are not a well-formed Thrift compact struct."""


Value = Union[bool, int, float, bytes, "Items", "Pairs", "Struct", "Raw"]
#: What :func:`rewrite` changes: by field id, a function of an integer field's value, or
#: the edits of a struct field or of each struct of a list field.
Edits = Mapping[int, Union[Callable[[int], int], "Edits"]]


@dataclass(slots=True)
class Struct:
    """A struct's fields, ``(id, wire type, value)``, in the order read or set."""

    fields: list[tuple[int, int, Value]] = field(default_factory=list)

    def get(self, fid: int) -> Value | None:
        """Field ``fid``'s value (``None`` when absent)."""
        for i, _, value in self.fields:
            if i == fid:
                return value
        return None

    def put(self, fid: int, wire: int, value: Value) -> None:
        """Set field ``fid`` in its place, or append it when absent."""
        for n, (i, _, _) in enumerate(self.fields):
            if i == fid:
                self.fields[n] = (fid, wire, value)
                return
        self.fields.append((fid, wire, value))

    def struct(self, fid: int) -> Struct:
        """Field ``fid``, which must be a struct."""
        value = self.get(fid)
        if not isinstance(value, Struct):
            raise ThriftError(f"field {fid} is not a struct: {value!r:.80}")
        return value

    def integer(self, fid: int) -> int | None:
        """Field ``fid``, an integer or absent."""
        value = self.get(fid)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ThriftError(f"field {fid} is not an integer: {value!r:.80}")
        return value


@dataclass(slots=True, frozen=True)
class Raw:
    """A value's compact-protocol bytes (of the wire type of its field), as read."""

    data: bytes


@dataclass(slots=True)
class Items:
    """A list's or a set's elements, all of wire type ``kind``."""

    kind: int
    values: list[Value] = field(default_factory=list)


@dataclass(slots=True)
class Pairs:
    """A map's entries, keys of wire type ``key_kind`` and values of ``value_kind``."""

    key_kind: int
    value_kind: int
    values: list[tuple[Value, Value]] = field(default_factory=list)


def fields(
    data: bytes, pos: int = 0, read: Mapping[int, Callable[[int], int]] | None = None
) -> tuple[list[tuple[int, int, int, int]], int]:
    """The fields of the struct at ``data[pos:]`` as ``(id, wire type, start, end)`` of
    each value's bytes (empty for a boolean field: its value is its wire type), and the
    offset just after the struct. ``read``: by field id, a function given where the
    field's value starts that reads it and says where it ends (instead of skipping it)."""
    found: list[tuple[int, int, int, int]] = []
    read = read or {}
    try:
        walk = _Walk(data)
        last = 0
        while (header := data[pos]) != 0:
            last, wire, start = walk.field(header, pos + 1, last)
            if wire in (TRUE, FALSE):
                pos = start
            elif last in read:
                pos = read[last](start)
            else:
                pos = walk.skip(wire, start, 0)
            found.append((last, wire, start, pos))
        return found, pos + 1
    except IndexError as exc:
        raise ThriftError(f"truncated Thrift data ({len(data)} bytes from {pos})") from exc


def list_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """The element type and size of the list at ``pos``, and where its elements start."""
    try:
        return _Walk(data).items_header(pos)
    except IndexError as exc:
        raise ThriftError(f"truncated Thrift list header at {pos}") from exc


def rewrite(data: bytes, pos: int, edits: Edits) -> tuple[bytes, int]:
    """The struct at ``data[pos:]`` with ``edits`` made (see :data:`Edits`; absent fields
    are left absent), and the offset just after it."""
    out = bytearray()
    try:
        end = _Walk(data).rewrite(pos, edits, out, 0)
    except IndexError as exc:
        raise ThriftError(f"truncated Thrift data ({len(data)} bytes from {pos})") from exc
    return bytes(out), end


def decode(data: bytes, pos: int = 0) -> tuple[Struct, int]:
    """The struct at ``data[pos:]`` and the offset just after it."""
    try:
        return _Reader(data, pos).struct(0)
    except (IndexError, _struct.error) as exc:
        raise ThriftError(f"truncated Thrift data ({len(data)} bytes from {pos})") from exc


def encode(value: Struct) -> bytes:
    """``value``'s compact-protocol bytes."""
    out = bytearray()
    _write_struct(out, value)
    return bytes(out)


def encode_fields(fields: list[tuple[int, int, Value]], last: int = 0) -> bytes:
    """Some of a struct's fields, after field ``last`` (0: the struct's first), with no
    stop byte: to write a struct in pieces."""
    out = bytearray()
    _write_fields(out, fields, last)
    return bytes(out)


def list_field_header(fid: int, kind: int, size: int, last: int = 0) -> bytes:
    """The header of list field ``fid`` (after field ``last``) of ``size`` elements of wire
    type ``kind``, to be followed by the elements' bytes."""
    out = bytearray()
    _field_header(out, fid, LIST, last)
    _items_header(out, kind, size)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def varint(self) -> int:
        data, pos = self.data, self.pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return result
            shift += 7
            if shift > 63:
                raise ThriftError(f"varint longer than 10 bytes at {pos}")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def struct(self, depth: int) -> tuple[Struct, int]:
        if depth > MAX_DEPTH:
            raise ThriftError(f"structs nested deeper than {MAX_DEPTH} at {self.pos}")
        fields: list[tuple[int, int, Value]] = []
        last = 0
        while True:
            header = self.data[self.pos]
            self.pos += 1
            if header == 0:
                return Struct(fields), self.pos
            wire, delta = header & 0x0F, header >> 4
            fid = last + delta if delta else self.zigzag()
            if wire in (TRUE, FALSE):
                fields.append((fid, wire, wire == TRUE))
            else:
                fields.append((fid, wire, self.value(wire, depth)))
            last = fid

    def value(self, wire: int, depth: int) -> Value:
        if wire in _INTS:
            return self.zigzag()
        if wire == BINARY:
            size = self.varint()
            start, self.pos = self.pos, self.pos + size
            if self.pos > len(self.data):
                raise ThriftError(f"binary of {size} bytes past the end at {start}")
            return self.data[start : self.pos]
        if wire == STRUCT:
            return self.struct(depth + 1)[0]
        if wire in (LIST, SET):
            return self.items(depth)
        if wire in (TRUE, FALSE):  # a container's element: one byte
            self.pos += 1
            return self.data[self.pos - 1] == TRUE
        if wire == BYTE:
            self.pos += 1
            return self.data[self.pos - 1] - ((self.data[self.pos - 1] & 0x80) << 1)
        if wire == DOUBLE:
            self.pos += 8
            return float(_DOUBLE.unpack_from(self.data, self.pos - 8)[0])
        if wire == MAP:
            return self.pairs(depth)
        raise ThriftError(f"unknown wire type {wire} at {self.pos}")

    def items(self, depth: int) -> Items:
        header = self.data[self.pos]
        self.pos += 1
        size = header >> 4
        if size == 15:
            size = self.varint()
        kind = header & 0x0F
        self._check_size(size)
        return Items(kind, [self.value(kind, depth + 1) for _ in range(size)])

    def pairs(self, depth: int) -> Pairs:
        size = self.varint()
        if size == 0:
            return Pairs(0, 0)
        self._check_size(size)
        kinds = self.data[self.pos]
        self.pos += 1
        key, val = kinds >> 4, kinds & 0x0F
        values = [(self.value(key, depth + 1), self.value(val, depth + 1)) for _ in range(size)]
        return Pairs(key, val, values)

    def _check_size(self, size: int) -> None:
        if size > len(self.data) - self.pos:  # each element takes a byte at least
            raise ThriftError(f"a container of {size} elements past the end at {self.pos}")


class _Walk:
    """Walks compact-protocol bytes without building values (an IndexError at the end)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def varint(self, pos: int) -> tuple[int, int]:
        data = self.data
        shift = result = 0
        while (byte := data[pos]) & 0x80:
            result |= (byte & 0x7F) << shift
            pos += 1
            shift += 7
            if shift > 63:
                raise ThriftError(f"varint longer than 10 bytes at {pos}")
        return result | byte << shift, pos + 1

    def field(self, header: int, pos: int, last: int) -> tuple[int, int, int]:
        """A field header's id and wire type, and where its value starts."""
        if header >> 4:
            return last + (header >> 4), header & 0x0F, pos
        n, pos = self.varint(pos)
        return (n >> 1) ^ -(n & 1), header & 0x0F, pos

    def items_header(self, pos: int) -> tuple[int, int, int]:
        header = self.data[pos]
        size, pos = header >> 4, pos + 1
        if size == 15:
            size, pos = self.varint(pos)
        if size > len(self.data) - pos:
            raise ThriftError(f"a container of {size} elements past the end at {pos}")
        return header & 0x0F, size, pos

    def skip(self, wire: int, pos: int, depth: int) -> int:
        """Where the value of ``wire`` type at ``pos`` ends."""
        data = self.data
        if wire in _INTS:
            while data[pos] & 0x80:
                pos += 1
            return pos + 1
        if wire == BINARY:
            size, pos = self.varint(pos)
            if pos + size > len(data):
                raise ThriftError(f"binary of {size} bytes past the end at {pos}")
            return pos + size
        if wire == STRUCT:
            return self.skip_fields(pos, depth + 1)
        if wire in (LIST, SET):
            kind, size, pos = self.items_header(pos)
            for _ in range(size):
                pos = self.skip(kind, pos, depth + 1)
            return pos
        if wire in (TRUE, FALSE, BYTE):  # a container's boolean: one byte
            return pos + 1
        if wire == DOUBLE:
            return pos + 8
        if wire == MAP:
            size, pos = self.varint(pos)
            if size:
                kinds, pos = data[pos], pos + 1
                for _ in range(size):
                    pos = self.skip(kinds >> 4, pos, depth + 1)
                    pos = self.skip(kinds & 0x0F, pos, depth + 1)
            return pos
        raise ThriftError(f"unknown wire type {wire} at {pos}")

    def skip_fields(self, pos: int, depth: int) -> int:
        """Where the struct whose fields start at ``pos`` ends (integers skipped inline:
        most of a Parquet footer)."""
        if depth > MAX_DEPTH:
            raise ThriftError(f"structs nested deeper than {MAX_DEPTH} at {pos}")
        data = self.data
        while (header := data[pos]) != 0:
            pos += 1
            if not header & 0xF0:  # the field id follows
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            wire = header & 0x0F
            if wire in _INTS:
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            elif wire not in (TRUE, FALSE):
                pos = self.skip(wire, pos, depth)
        return pos + 1

    def rewrite(self, pos: int, edits: Edits, out: bytearray, depth: int) -> int:
        """Copy the struct at ``pos`` to ``out`` with ``edits`` made; its end."""
        if depth > MAX_DEPTH:
            raise ThriftError(f"structs nested deeper than {MAX_DEPTH} at {pos}")
        data, copied, last = self.data, pos, 0
        while (header := data[pos]) != 0:
            last, wire, pos = self.field(header, pos + 1, last)
            edit = edits.get(last)
            if edit is None or wire in (TRUE, FALSE):
                if wire not in (TRUE, FALSE):  # a field's boolean is in its header
                    pos = self.skip(wire, pos, depth)
                continue
            out += data[copied:pos]
            if wire in _INTS and callable(edit):
                n, pos = self.varint(pos)
                _zigzag(out, edit((n >> 1) ^ -(n & 1)))
            elif wire == STRUCT and not callable(edit):
                pos = self.rewrite(pos, edit, out, depth + 1)
            elif wire in (LIST, SET) and not callable(edit) and data[pos] & 0x0F == STRUCT:
                _, size, start = self.items_header(pos)
                out += data[pos:start]
                pos = start
                for _ in range(size):
                    pos = self.rewrite(pos, edit, out, depth + 1)
            else:
                raise ThriftError(f"field {last} (wire type {wire}) cannot be edited so")
            copied = pos
        out += data[copied : pos + 1]
        return pos + 1


def _varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(out: bytearray, n: int) -> None:
    _varint(out, (n << 1) ^ (n >> 63) if n < 0 else n << 1)


def _write_struct(out: bytearray, value: Struct) -> None:
    _write_fields(out, value.fields, 0)
    out.append(0)


def _write_fields(out: bytearray, fields: list[tuple[int, int, Value]], last: int) -> None:
    for fid, wire, item in fields:
        if wire in (TRUE, FALSE):
            wire = TRUE if item else FALSE
        _field_header(out, fid, wire, last)
        if wire not in (TRUE, FALSE):
            _write_value(out, wire, item)
        last = fid


def _field_header(out: bytearray, fid: int, wire: int, last: int) -> None:
    delta = fid - last
    if 0 < delta <= 15:
        out.append(delta << 4 | wire)
    else:
        out.append(wire)
        _zigzag(out, fid)


def _write_value(out: bytearray, wire: int, value: Value) -> None:
    if isinstance(value, Raw):
        out += value.data
    elif wire in _INTS and isinstance(value, int):
        _zigzag(out, value)
    elif wire == BINARY and isinstance(value, bytes):
        _varint(out, len(value))
        out += value
    elif wire == STRUCT and isinstance(value, Struct):
        _write_struct(out, value)
    elif wire in (LIST, SET) and isinstance(value, Items):
        _write_items(out, value)
    elif wire in (TRUE, FALSE):
        out.append(TRUE if value else FALSE)
    elif wire == BYTE and isinstance(value, int):
        out.append(value & 0xFF)
    elif wire == DOUBLE and isinstance(value, float):
        out += _DOUBLE.pack(value)
    elif wire == MAP and isinstance(value, Pairs):
        _write_pairs(out, value)
    else:
        raise ThriftError(f"cannot write {value!r:.80} as wire type {wire}")


def _items_header(out: bytearray, kind: int, size: int) -> None:
    if size < 15:
        out.append(size << 4 | kind)
    else:
        out.append(0xF0 | kind)
        _varint(out, size)


def _write_items(out: bytearray, value: Items) -> None:
    _items_header(out, value.kind, len(value.values))
    for item in value.values:
        _write_value(out, value.kind, item)


def _write_pairs(out: bytearray, value: Pairs) -> None:
    _varint(out, len(value.values))
    if value.values:
        out.append(value.key_kind << 4 | value.value_kind)
        for key, item in value.values:
            _write_value(out, value.key_kind, key)
            _write_value(out, value.value_kind, item)
