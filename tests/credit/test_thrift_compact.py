"""The Thrift compact-protocol codec that reads and writes Parquet footers (issue 13).

Checked against the bytes Arrow's C++ Thrift library writes (a real Parquet footer) and
against hand-encoded bytes of every wire type, the long forms included.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.credit import thrift_compact as tc


def _footer(tmp_path: Path) -> bytes:
    table = pa.table(
        {
            "key": [f"k{i:04d}" for i in range(300)],
            "x": np.linspace(0.0, 1.0, 300),
            "label": ["a", "b", "c"] * 100,
            "flag": [True, False, None] * 100,
        }
    )
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, row_group_size=100, use_dictionary=["label"])
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[-8:-4])
    return data[-8 - length : -8]


def test_a_real_footer_reads_and_writes_back_the_same_bytes(tmp_path: Path) -> None:
    footer = _footer(tmp_path)
    meta, end = tc.decode(footer)
    assert end == len(footer)
    assert tc.encode(meta) == footer
    assert meta.integer(3) == 300  # FileMetaData.num_rows
    groups = meta.get(4)
    assert isinstance(groups, tc.Items) and len(groups.values) == 3
    assert [g.integer(3) for g in groups.values if isinstance(g, tc.Struct)] == [100] * 3
    assert meta.get(6) == f"parquet-cpp-arrow version {pa.__version__}".encode()


def test_fields_give_the_spans_of_a_real_footer(tmp_path: Path) -> None:
    footer = _footer(tmp_path)
    meta, _ = tc.decode(footer)
    spans, end = tc.fields(footer)
    assert end == len(footer)
    assert [(fid, wire) for fid, wire, _, _ in spans] == [(f, w) for f, w, _ in meta.fields]
    rebuilt = tc.Struct([(fid, wire, tc.Raw(footer[a:b])) for fid, wire, a, b in spans])
    assert tc.encode(rebuilt) == footer
    kind, size, first = tc.list_header(footer, next(a for f, _, a, _ in spans if f == 4))
    assert (kind, size) == (tc.STRUCT, 3)
    group, after = tc.decode(footer, first)
    assert isinstance(meta.get(4), tc.Items) and group == meta.get(4).values[0]  # type: ignore[union-attr]
    assert after > first


def test_rewrite_edits_integers_in_nested_structs_and_lists(tmp_path: Path) -> None:
    footer = _footer(tmp_path)
    assert tc.rewrite(footer, 0, {})[0] == footer  # no edits: the same bytes
    seen: list[int] = []

    def plus(n: int) -> int:
        seen.append(n)
        return n + 1_000_000_000

    # RowGroup.file_offset; ColumnMetaData.data_page_offset, in each column chunk
    edits: tc.Edits = {4: {5: plus, 1: {3: {9: plus}}}}
    data, end = tc.rewrite(footer, 0, edits)
    assert end == len(footer)
    want, _ = tc.decode(footer)
    groups = want.get(4)
    assert isinstance(groups, tc.Items)
    for group in groups.values:
        assert isinstance(group, tc.Struct)
        group.put(5, tc.I64, (group.integer(5) or 0) + 1_000_000_000)
        columns = group.get(1)
        assert isinstance(columns, tc.Items)
        for chunk in columns.values:
            assert isinstance(chunk, tc.Struct)
            meta = chunk.struct(3)
            meta.put(9, tc.I64, (meta.integer(9) or 0) + 1_000_000_000)
    assert data == tc.encode(want)
    assert len(seen) == 3 * (1 + 4)  # three row groups, four columns
    with pytest.raises(tc.ThriftError, match="field 6"):
        tc.rewrite(footer, 0, {6: plus})  # created_by is a binary


def _every_wire_type() -> tuple[tc.Struct, bytes]:
    inner = tc.Struct([(1, tc.I32, -3)])
    value = tc.Struct(
        [
            (1, tc.TRUE, True),
            (2, tc.FALSE, False),
            (3, tc.BYTE, -2),
            (4, tc.I16, -300),
            (20, tc.I64, -(2**62)),  # a delta of 16: the long form
            (-1, tc.DOUBLE, 1.5),  # a negative id
            (5, tc.BINARY, b"ab"),
            (6, tc.LIST, tc.Items(tc.I32, list(range(20)))),  # 15 or more: the long header
            (7, tc.SET, tc.Items(tc.TRUE, [True, False])),
            (8, tc.MAP, tc.Pairs(tc.BINARY, tc.STRUCT, [(b"k", inner)])),
            (9, tc.MAP, tc.Pairs(0, 0)),
            (10, tc.STRUCT, tc.Struct([(1, tc.LIST, tc.Items(tc.STRUCT, [inner, inner]))])),
        ]
    )
    data = (
        b"\x11\x12"  # id 1 true, id 2 false
        + b"\x13\xfe"  # byte -2
        + b"\x14\xd7\x04"  # i16 -300: zigzag 599
        + b"\x06\x28"  # i64, id 20 (zigzag 40) follows
        + b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f"  # zigzag(-2**62) = 2**63 - 1
        + b"\x07\x01"  # double, id -1 (zigzag 1)
        + struct.pack("<d", 1.5)
        + b"\x68\x02ab"  # binary, id 5 (delta 6 from -1)
        + b"\x19\xf5\x14"  # list, 20 i32s
        + bytes(2 * n for n in range(20))
        + b"\x1a\x21\x01\x02"  # set of 2 booleans: 1 true, 2 false
        + b"\x1b\x01\x8c\x01k\x15\x05\x00"  # map binary -> struct {1: -3}
        + b"\x1b\x00"  # an empty map
        + b"\x1c\x19\x2c\x15\x05\x00\x15\x05\x00\x00"  # struct {1: [inner, inner]}
        + b"\x00"
    )
    return value, data


def test_every_wire_type_as_the_cpp_library_writes_it() -> None:
    value, data = _every_wire_type()
    assert tc.encode(value) == data
    decoded, end = tc.decode(data)
    assert end == len(data) and decoded == value
    spans, end = tc.fields(data)
    assert end == len(data) and [f for f, _, _, _ in spans] == [f for f, _, _ in value.fields]
    assert tc.rewrite(data, 0, {})[0] == data
    edited, _ = tc.rewrite(data, 0, {4: lambda n: n * 2, 10: {1: {1: lambda n: 7}}})
    value.put(4, tc.I16, -600)
    value.put(10, tc.STRUCT, tc.Struct([(1, tc.LIST, tc.Items(tc.STRUCT, [_seven(), _seven()]))]))
    assert edited == tc.encode(value)


def _seven() -> tc.Struct:
    return tc.Struct([(1, tc.I32, 7)])


def test_pieces_make_the_struct() -> None:
    value, data = _every_wire_type()
    fields = value.fields
    assert fields[7][0] == 6
    head = tc.encode_fields(fields[:7])
    middle = tc.list_field_header(6, tc.I32, 20, last=5)
    items = fields[7][2]
    assert isinstance(items, tc.Items)
    body = b"".join(tc.encode(tc.Struct([(1, tc.I32, n)]))[1:-1] for n in items.values)
    tail = tc.encode_fields(fields[8:], last=6) + b"\x00"
    assert head + middle + body + tail == data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x15",  # a field with no value
        b"\x18\x05ab",  # binary past the end
        b"\x19\xf5",  # a list with no size
        b"\x19\x55\x02",  # five i32s, one there
        b"\x1d\x00",  # wire type 13
    ],
)
def test_malformed_bytes_are_refused(data: bytes) -> None:
    for read in (tc.decode, tc.fields, lambda d: tc.rewrite(d, 0, {1: lambda n: n})):
        with pytest.raises(tc.ThriftError):
            read(data)


def test_a_varint_of_more_than_ten_bytes_is_refused_where_read() -> None:
    data = b"\x16" + b"\xff" * 11 + b"\x01\x00"
    with pytest.raises(tc.ThriftError, match="varint"):
        tc.decode(data)
    with pytest.raises(tc.ThriftError, match="varint"):
        tc.rewrite(data, 0, {1: lambda n: n})


def test_nesting_too_deep_is_refused() -> None:
    deep = b"\x1c" * (tc.MAX_DEPTH + 2) + b"\x00" * (tc.MAX_DEPTH + 3)
    with pytest.raises(tc.ThriftError, match="nested deeper"):
        tc.decode(deep)
    with pytest.raises(tc.ThriftError, match="nested deeper"):
        tc.fields(deep)
