"""A Parquet file written row group by row group with no metadata held per row group
(issue 13): the same bytes as one ``ParquetWriter``, flat C heap, clear errors."""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.credit import parquet_stitch
from montemap.credit.parquet_stitch import ParquetWriteError, RowGroupFile
from montemap.credit.reduce_writer import LABELS, contributions_options, loans_options


def _table(i: int, rows: int) -> pa.Table:
    rng = np.random.default_rng(i)
    start = i * 1000
    return pa.table(
        {
            "key": pa.array(
                [f"data/k{n:07d}.csv" for n in range(start, start + rows)], pa.string()
            ),
            "AccountID": rng.integers(0, 10**9, rows),
            "ZipCode": rng.choice(["02139", "10001", "94105"], rows),
            "LoanType": rng.choice(["personal", "commercial"], rows),
            "x": rng.standard_normal(rows),
            "shock_bp": np.full(rows, 100 * (i % 3), dtype=np.int64),
            "note": pa.array([None if n % 7 else "n" for n in range(rows)], pa.string()),
        }
    )


def _tables() -> list[pa.Table]:
    """Row groups of several sizes, one of chunked columns (joined chunks), one empty."""
    tables = [_table(i, 400 + 37 * i) for i in range(6)]
    tables.insert(2, pa.concat_tables([_table(10, 100), _table(11, 250)]))
    tables.insert(4, _table(12, 0))
    return tables


def _both(tmp_path: Path, tables: list[pa.Table], options: dict[str, Any]) -> tuple[Path, Path]:
    arrow, ours = tmp_path / "arrow.parquet", tmp_path / "ours.parquet"
    schema = (tables[0] if tables else _table(0, 1)).schema
    with pq.ParquetWriter(arrow, schema, **options) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
    out = RowGroupFile(ours, schema, options)
    for table in tables:
        out.write(table)
    out.close()
    return arrow, ours


OPTIONS = {
    "loans": loans_options(),
    "contributions": contributions_options(),
    "defaults": {},
    "zstd, all dictionaries": {"compression": "zstd", "use_dictionary": True},
    "no statistics, v1 pages": {"write_statistics": False, "data_page_version": "1.0"},
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_the_same_bytes_as_one_parquet_writer(tmp_path: Path, options: dict[str, Any]) -> None:
    assert set(LABELS) & {"ZipCode", "LoanType"}  # the loans options use dictionaries here
    tables = _tables()
    arrow, ours = _both(tmp_path, tables, options)
    assert ours.read_bytes() == arrow.read_bytes()
    meta = pq.ParquetFile(ours).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        t.num_rows for t in tables
    ]
    assert pq.read_table(ours).equals(pa.concat_tables(tables), check_metadata=True)
    assert not (tmp_path / "ours.parquet.rowgroup").exists()


def test_parts_with_a_name_where_they_cannot_have_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_stitch, "_nameless", lambda folder: None)  # not Linux
    tables = _tables()
    arrow, ours = _both(tmp_path, tables, loans_options())
    assert ours.read_bytes() == arrow.read_bytes()
    assert sorted(tmp_path.iterdir()) == [arrow, ours]  # the part is gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_TMPFILE parts")
def test_while_written_the_folder_holds_the_file_alone(tmp_path: Path) -> None:
    table = _table(0, 50)
    out = RowGroupFile(tmp_path / "a.parquet", table.schema, {})
    out.write(table)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "a.parquet"]  # parts have no name
    out.write(table)
    out.close()
    assert sorted(tmp_path.iterdir()) == [tmp_path / "a.parquet"]
    assert pq.read_table(tmp_path / "a.parquet").num_rows == 100


def test_no_row_groups_as_a_writer_closed_at_once(tmp_path: Path) -> None:
    arrow, ours = _both(tmp_path, [], {})
    assert ours.read_bytes() == arrow.read_bytes()
    assert pq.ParquetFile(ours).metadata.num_row_groups == 0


@pytest.mark.parametrize(
    "options",
    [
        {"write_page_index": True},
        {"bloom_filter_options": {"key": {"ndv": 100}}},
        {"encryption_properties": object()},
    ],
)
def test_page_indexes_bloom_filters_and_encryption_are_refused(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    """Their structures hold offsets of pages that the writer would have to move."""
    with pytest.raises(ParquetWriteError, match=re.escape(f"in parts with {[*options]}")):
        RowGroupFile(tmp_path / "a.parquet", _table(0, 10).schema, options)
    assert sorted(tmp_path.iterdir()) == []


def _c_heap() -> int:
    """Bytes in use in glibc's heap (Arrow's C++ metadata lives there, its buffers do not)."""

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
                *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
            )
        ]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Mallinfo2
    pa.default_memory_pool().release_unused()
    libc.malloc_trim(0)
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="glibc's mallinfo2",
)
def test_the_c_heap_does_not_grow_with_the_row_groups(tmp_path: Path) -> None:
    table = pa.table({f"c{j}": np.arange(200, dtype=np.int64) + j for j in range(30)})
    writer = pq.ParquetWriter(tmp_path / "arrow.parquet", table.schema)
    arrow = _heap_per_row_group(lambda: writer.write_table(table, row_group_size=200))
    writer.close()
    out = RowGroupFile(tmp_path / "ours.parquet", table.schema, {})
    ours = _heap_per_row_group(lambda: out.write(table))
    out.close()
    assert arrow > 10_000  # ~870 bytes a column chunk, 30 columns: the test sees it
    assert ours < 300, (arrow, ours)  # nothing per row group (allocator noise)


def _heap_per_row_group(write: Callable[[], object], groups: int = 300) -> float:
    for _ in range(20):
        write()
    before = _c_heap()
    for _ in range(groups):
        write()
    return (_c_heap() - before) / groups


def test_a_full_disk_is_a_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    """A file-size limit (EFBIG, as ENOSPC would) stops the part, then the copy."""
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        import numpy as np, pyarrow as pa
        from montemap.credit.parquet_stitch import ParquetWriteError, RowGroupFile
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        table = pa.table({{"x": np.random.default_rng(0).standard_normal(20_000)}})
        path = Path({str(tmp_path / "full.parquet")!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
        out = RowGroupFile(path, table.schema, {{"compression": "none"}})
        try:
            for _ in range(100):
                out.write(table)
            out.close()
        except ParquetWriteError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    for limit in (50_000, 500_000):  # the part fails; the part fits, the file fills up
        done = subprocess.run(
            [sys.executable, "-c", code, str(limit)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 3, done.stderr
        assert "full.parquet: cannot write a row group" in done.stdout
        assert "too large" in done.stdout
        assert sorted(tmp_path.iterdir()) == []


def test_written_after_close_or_where_it_cannot_be_is_refused(tmp_path: Path) -> None:
    table = _table(0, 10)
    out = RowGroupFile(tmp_path / "a.parquet", table.schema, {})
    out.write(table)
    out.close()
    with pytest.raises(ParquetWriteError, match="after it was closed"):
        out.write(table)
    with pytest.raises(ParquetWriteError, match="cannot create"):
        RowGroupFile(tmp_path / "missing" / "c.parquet", table.schema, {})


def test_a_table_of_another_schema_removes_the_file(tmp_path: Path) -> None:
    out = RowGroupFile(tmp_path / "a.parquet", _table(0, 10).schema, {})
    out.write(_table(0, 10))
    with pytest.raises(ValueError, match="schema"):
        out.write(pa.table({"y": [1, 2]}))
    assert sorted(tmp_path.iterdir()) == []
    out.close()  # nothing left to close
