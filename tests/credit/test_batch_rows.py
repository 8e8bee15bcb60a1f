"""A batch's per-loan rows on disk: the Arrow IPC layout the batch writes, and the Parquet
layout of earlier outputs, read through one reader."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from montemap.credit.batch_rows import (
    LEGACY_LOANS_FILE,
    LOANS_FILE,
    encode_rows,
    open_batch_rows,
)
from montemap.storage import LocalObjectStore, ObjectStore, ObjectStoreError
from tests.storage.s3_server import moto_endpoint, reset_moto, s3_store

__all__ = ["moto_endpoint", "reset_moto", "s3_store"]

SHOCKS = [0, 100, 250]
BUCKET = "out"
FOLDER = "runs/r/batches/b-1/"


def _rows(loans: int) -> pa.Table:
    keys = [f"k{i:03d}" for i in range(loans)]
    return pa.table(
        {
            "key": pa.array(keys * len(SHOCKS), pa.string()),
            "shock_bp": pa.array([s for s in SHOCKS for _ in keys], pa.int64()),
            "pd": pa.array(
                [0.01 * (i + 1) + s for s in SHOCKS for i in range(loans)], pa.float64()
            ),
            "dti": pa.array([None if i % 2 else 0.5 for _ in SHOCKS for i in range(loans)]),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path / "buckets")
    s.create_bucket(BUCKET)
    return s


@pytest.mark.parametrize("loans", [5, 0])
def test_one_record_batch_per_scenario_reads_back_each_scenario(
    store: LocalObjectStore, loans: int
) -> None:
    table = _rows(loans)
    data = encode_rows(table, len(SHOCKS)).to_pybytes()
    reader = ipc.open_file(io.BytesIO(data))
    assert reader.num_record_batches == len(SHOCKS)
    assert reader.read_all().equals(table)
    store.put(BUCKET, FOLDER + LOANS_FILE, data)
    with open_batch_rows(store, BUCKET, FOLDER, SHOCKS) as rows:
        assert rows.row_counts() == [loans] * len(SHOCKS)
        for j, shock in enumerate(SHOCKS):
            got = rows.scenario(j, ["pd", "key"])
            assert got.column_names == ["pd", "key"]
            assert got.column("pd").to_pylist() == table.slice(j * loans, loans)["pd"].to_pylist()
            assert set(rows.scenario(j).column("shock_bp").to_pylist()) <= {shock}
    assert got.num_rows == loans  # a returned table outlives the closed reader


def test_chunks_that_straddle_scenarios_still_give_one_record_batch_each() -> None:
    table = _rows(5)
    chunked = pa.concat_tables([table.slice(0, 2), table.slice(2, 6), table.slice(8)])
    reader = ipc.open_file(io.BytesIO(encode_rows(chunked, len(SHOCKS)).to_pybytes()))
    assert reader.num_record_batches == len(SHOCKS)
    assert [reader.get_batch(j).num_rows for j in range(len(SHOCKS))] == [5, 5, 5]
    assert reader.read_all().equals(table)


def test_rows_that_do_not_split_into_the_scenarios_are_refused() -> None:
    with pytest.raises(ValueError, match="do not split"):
        encode_rows(_rows(4).slice(1), len(SHOCKS))


@pytest.mark.parametrize("layout", ["parquet per scenario", "parquet one group", "arrow one batch"])
def test_other_layouts_read_the_same(store: LocalObjectStore, layout: str) -> None:
    table = _rows(7)
    sink = io.BytesIO()
    if layout == "arrow one batch":
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table.combine_chunks())
        store.put(BUCKET, FOLDER + LOANS_FILE, sink.getvalue())
    else:
        group = 7 if layout == "parquet per scenario" else table.num_rows
        pq.write_table(table, sink, row_group_size=group)
        store.put(BUCKET, FOLDER + LEGACY_LOANS_FILE, sink.getvalue())
    with open_batch_rows(store, BUCKET, FOLDER, SHOCKS) as rows:
        assert rows.row_counts() == [7, 7, 7]
        for j in range(len(SHOCKS)):
            assert rows.scenario(j).equals(table.slice(j * 7, 7))
            assert rows.scenario(j, ["key"]).equals(table.slice(j * 7, 7).select(["key"]))


def test_missing_and_unreadable_files(store: LocalObjectStore) -> None:
    with pytest.raises(ObjectStoreError) as missing:
        open_batch_rows(store, BUCKET, FOLDER, SHOCKS)
    assert missing.value.code == "NoSuchKey"
    store.put(BUCKET, FOLDER + LOANS_FILE, b"not an arrow file")
    with pytest.raises(pa.ArrowInvalid):
        open_batch_rows(store, BUCKET, FOLDER, SHOCKS)


def test_a_mapped_local_file_and_an_s3_stream_read_the_same(
    store: LocalObjectStore, s3_store: ObjectStore
) -> None:
    table = _rows(6)
    body = encode_rows(table, len(SHOCKS)).to_pybytes()
    s3_store.create_bucket(BUCKET)
    for s in (store, s3_store):
        s.put(BUCKET, FOLDER + LOANS_FILE, body)
    with (
        open_batch_rows(store, BUCKET, FOLDER, SHOCKS) as local,
        open_batch_rows(s3_store, BUCKET, FOLDER, SHOCKS) as remote,
    ):
        for j in range(len(SHOCKS)):  # the first read from the opened file, then reopened
            assert local.scenario(j).equals(remote.scenario(j))
            assert local.scenario(j).equals(table.slice(j * 6, 6))
        assert local.row_counts() == remote.row_counts() == [6, 6, 6]
    for s in (store, s3_store):  # an empty object cannot be mapped: refused as before
        s.put(BUCKET, FOLDER + LOANS_FILE, b"")
        with pytest.raises(pa.ArrowInvalid):
            open_batch_rows(s, BUCKET, FOLDER, SHOCKS)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_rows_held_keep_no_file_open(store: LocalObjectStore) -> None:
    table = _rows(4)
    folders = [f"runs/r/batches/b-{i}/" for i in range(40)]
    for folder in folders:
        store.put(BUCKET, folder + LOANS_FILE, encode_rows(table, len(SHOCKS)).to_pybytes())
    before = len(os.listdir("/proc/self/fd"))
    held = []
    for folder in folders:  # as pass 2 holds the rows of overlapping batches
        with open_batch_rows(store, BUCKET, folder, SHOCKS) as rows:
            held.append(rows.scenario(1))
        held.append(open_batch_rows(store, BUCKET, folder, SHOCKS).scenario(2))
    assert len(os.listdir("/proc/self/fd")) == before
    for i, rows in enumerate(held):
        assert rows.equals(table.slice((1 + i % 2) * 4, 4))
