"""The reduction's Parquet writer (issue 13): the bytes of one ``ParquetWriter``, no
metadata held per row group, and chunks joinable into row groups.

Joined chunks must be let go as soon as their group is written, and a group holds one
scenario (the reduction joins from ``reduce.JOIN_LOANS`` loans: since the writer holds
no metadata per row group, never).
"""

from __future__ import annotations

import weakref
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.credit import reduce, reduce_merge
from montemap.credit.reduce_files import RUN_FILES
from montemap.credit.reduce_writer import (
    BackgroundParquet,
    contributions_options,
    loans_options,
)
from montemap.testing import eventually
from tests.credit.test_reduce_streaming import PARAMS, _assert_same, _generated_batches


def _chunk(i: int, rows: int = 100) -> pa.Table:
    return pa.table({"x": np.arange(i * rows, (i + 1) * rows)})


def _group_rows(path: Path) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_chunks_joined_into_row_groups_that_flush_and_close_end(tmp_path: Path) -> None:
    sink = BackgroundParquet(tmp_path / "a.parquet", {}, group_rows=250)
    for i in range(7):
        sink.write(_chunk(i))
    sink.flush()
    sink.flush()  # an empty group is not written
    for i in range(7, 9):
        sink.write(_chunk(i))
    sink.close()
    assert _group_rows(tmp_path / "a.parquet") == [300, 300, 100, 200]
    assert pq.read_table(tmp_path / "a.parquet").column("x").to_pylist() == list(range(900))


def test_chunks_are_let_go_once_their_group_is_written(tmp_path: Path) -> None:
    sink = BackgroundParquet(tmp_path / "a.parquet", {}, group_rows=250)
    refs = []
    for i in range(5):
        chunk = _chunk(i)
        refs.append(weakref.ref(chunk))
        sink.write(chunk)
        del chunk
    # 0-2 are a group (300 rows): written and dropped; 3 and 4 wait for more rows
    eventually(lambda: all(r() is None for r in refs[:3]), what="the written group dropped")
    assert all(r() is not None for r in refs[3:])
    sink.flush()
    eventually(lambda: all(r() is None for r in refs), what="the flushed group dropped")
    sink.close()
    assert _group_rows(tmp_path / "a.parquet") == [300, 200]


def _scenario_groups(path: Path) -> list[tuple[int, int]]:
    """Each row group's scenario and rows, in file order (one scenario a group)."""
    meta = pq.ParquetFile(path).metadata
    shock = meta.schema.to_arrow_schema().get_field_index("shock_bp")
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(shock).statistics
        assert stats.min == stats.max, (path.name, i)
        groups.append((stats.min, meta.row_group(i).num_rows))
    return groups


def test_large_books_join_two_chunks_a_row_group_of_one_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
    store, ids = _generated_batches(tmp_path, 1200, 97)
    _assert_same(store, ids, tmp_path / "each")  # a book below JOIN_LOANS: as before
    monkeypatch.setattr(reduce, "JOIN_LOANS", 1)
    _assert_same(store, ids, tmp_path / "out")  # joined: the same rows and values
    for name in ("loans.parquet", "contributions.parquet"):
        each = _scenario_groups(tmp_path / "each" / name)
        joined = _scenario_groups(tmp_path / "out" / name)
        for groups in (each, joined):
            assert [s for s, _ in groups] == sorted(s for s, _ in groups)
            assert {s for s, _ in groups} == set(PARAMS.shocks_bp)
        assert min(_full(each)) >= 64 and max(_full(each)) < 128  # each chunk a group
        assert min(_full(joined)) >= 128  # two chunks or more a group
        assert len(joined) <= len(each) // 2 + len(PARAMS.shocks_bp)


def _full(groups: list[tuple[int, int]]) -> list[int]:
    """The rows of each group but each scenario's last."""
    return [rows for (s, rows), (t, _) in pairwise(groups) if s == t]


@pytest.mark.parametrize("join", [False, True])
def test_the_reductions_files_are_what_one_parquet_writer_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, join: bool
) -> None:
    """Each row group written as a file of its own and stitched (no metadata held per
    row group): the bytes of one ``ParquetWriter`` given the same row groups."""
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
    if join:
        monkeypatch.setattr(reduce, "JOIN_LOANS", 1)
    store, ids = _generated_batches(tmp_path, 600, 97)
    _assert_same(store, ids, tmp_path / "out")
    for name, options in (
        ("loans.parquet", loans_options()),
        ("contributions.parquet", contributions_options()),
    ):
        path = tmp_path / "out" / name
        source = pq.ParquetFile(path)
        assert source.metadata.num_row_groups > len(PARAMS.shocks_bp)
        again = tmp_path / f"again-{name}"
        with pq.ParquetWriter(again, source.schema_arrow, **options) as writer:
            for i in range(source.metadata.num_row_groups):
                group = source.read_row_group(i)
                writer.write_table(group, row_group_size=group.num_rows)
        assert path.read_bytes() == again.read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(RUN_FILES)


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    sink = BackgroundParquet(path, {}, group_rows=250)
    sink.write(_chunk(0))
    sink.write(pa.table({"y": ["not", "x"]}))
    with pytest.raises(ValueError, match="schema does not match"):
        sink.close()
    assert sorted(tmp_path.iterdir()) == []
