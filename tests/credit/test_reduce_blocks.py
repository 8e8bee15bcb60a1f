"""Pass 2's reads of a batch's scenarios (:class:`ScenarioBlocks`): the first read of a
batch learns where its scenarios lie, the later ones read a scenario's message alone;
every read gives what :func:`open_batch_rows` gives, in every layout and store."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from montemap.credit.batch_blocks import ScenarioBlocks
from montemap.credit.batch_rows import LEGACY_LOANS_FILE, LOANS_FILE, encode_rows, open_batch_rows
from montemap.storage import LocalObjectStore, ObjectStore, ObjectStoreError
from tests.storage.s3_server import moto_endpoint, reset_moto, s3_store

__all__ = ["moto_endpoint", "reset_moto", "s3_store"]

SHOCKS = [0, 100, 250]
BUCKET = "out"


def _rows(loans: int, seed: int = 0) -> pa.Table:
    keys = [f"k{seed}-{i:03d}" for i in range(loans)]
    return pa.table(
        {
            "key": pa.array(keys * len(SHOCKS), pa.string()),
            "shock_bp": pa.array([s for s in SHOCKS for _ in keys], pa.int64()),
            "pd": pa.array([0.01 * (i + seed) + s for s in SHOCKS for i in range(loans)]),
            "dti": pa.array([None if i % 2 else 0.5 for _ in SHOCKS for i in range(loans)]),
        }
    )


def _folder(i: int) -> str:
    return f"runs/r/batches/b-{i}/"


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path / "buckets")
    s.create_bucket(BUCKET)
    return s


def _expected(store: ObjectStore, folder: str, j: int) -> pa.Table:
    with open_batch_rows(store, BUCKET, folder, SHOCKS) as rows:
        return rows.scenario(j)


def test_every_scenario_in_any_order_reads_as_the_file_reader_does(
    store: LocalObjectStore,
) -> None:
    tables = [_rows(loans, i) for i, loans in enumerate([5, 1, 0, 9])]
    for i, table in enumerate(tables):
        store.put(BUCKET, _folder(i) + LOANS_FILE, encode_rows(table, len(SHOCKS)).to_pybytes())
    blocks = ScenarioBlocks(len(tables), SHOCKS)
    # the first read of each batch is another scenario (it learns the layout), then all
    for first in range(len(tables)):
        j = first % len(SHOCKS)
        got = blocks.scenario(store, BUCKET, _folder(first), first, j)
        assert got.equals(_expected(store, _folder(first), j))
    for _ in range(2):
        for i, table in enumerate(tables):
            for j in reversed(range(len(SHOCKS))):
                got = blocks.scenario(store, BUCKET, _folder(i), i, j)
                n = table.num_rows // len(SHOCKS)
                assert got.equals(table.slice(j * n, n))
                assert got.schema.equals(table.schema, check_metadata=True)


@pytest.mark.parametrize("layout", ["parquet per scenario", "arrow one batch", "arrow dictionary"])
def test_other_layouts_are_read_the_general_way(store: LocalObjectStore, layout: str) -> None:
    table = _rows(7)
    sink = io.BytesIO()
    name = LOANS_FILE
    if layout == "arrow one batch":
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table.combine_chunks())
    elif layout == "arrow dictionary":  # one batch per scenario, a dictionary column
        coded = table.set_column(0, "key", table.column("key").dictionary_encode())
        sink.write(encode_rows(coded, len(SHOCKS)).to_pybytes())
    else:
        pq.write_table(table, sink, row_group_size=7)
        name = LEGACY_LOANS_FILE
    store.put(BUCKET, _folder(0) + name, sink.getvalue())
    blocks = ScenarioBlocks(1, SHOCKS)
    for _ in range(2):
        for j in range(len(SHOCKS)):
            got = blocks.scenario(store, BUCKET, _folder(0), 0, j)
            assert got.equals(_expected(store, _folder(0), j))
            assert got.column("pd").equals(table.slice(j * 7, 7).column("pd"))


def test_a_stream_without_its_end_marker_is_read_the_general_way(
    store: LocalObjectStore,
) -> None:
    table = _rows(4)
    data = encode_rows(table, len(SHOCKS)).to_pybytes()
    eos = b"\xff\xff\xff\xff\x00\x00\x00\x00"
    at = data.rindex(eos)  # the footer comes after: the file still reads by its footer
    store.put(BUCKET, _folder(0) + LOANS_FILE, data[:at] + data[at + len(eos) :])
    blocks = ScenarioBlocks(1, SHOCKS)
    for j in (2, 0, 1):
        got = blocks.scenario(store, BUCKET, _folder(0), 0, j)
        assert got.equals(table.slice(j * 4, 4))
        assert got.equals(_expected(store, _folder(0), j))


def test_missing_and_unreadable_files(store: LocalObjectStore) -> None:
    blocks = ScenarioBlocks(2, SHOCKS)
    with pytest.raises(ObjectStoreError) as missing:
        blocks.scenario(store, BUCKET, _folder(0), 0, 0)
    assert missing.value.code == "NoSuchKey"
    store.put(BUCKET, _folder(1) + LOANS_FILE, b"not an arrow file")
    with pytest.raises(pa.ArrowInvalid):
        blocks.scenario(store, BUCKET, _folder(1), 1, 0)


def test_a_file_cut_short_after_its_layout_was_learned_is_an_error(
    store: LocalObjectStore,
) -> None:
    data = encode_rows(_rows(6), len(SHOCKS)).to_pybytes()
    store.put(BUCKET, _folder(0) + LOANS_FILE, data)
    blocks = ScenarioBlocks(1, SHOCKS)
    blocks.scenario(store, BUCKET, _folder(0), 0, 0)
    store.put(BUCKET, _folder(0) + LOANS_FILE, data[: len(data) // 2])
    with pytest.raises(OSError, match=r"ended \d+ bytes early"):
        blocks.scenario(store, BUCKET, _folder(0), 0, 2)


def test_a_local_file_and_an_s3_object_read_the_same(
    store: LocalObjectStore, s3_store: ObjectStore
) -> None:
    table = _rows(6)
    body = encode_rows(table, len(SHOCKS)).to_pybytes()
    s3_store.create_bucket(BUCKET)
    for s in (store, s3_store):
        s.put(BUCKET, _folder(0) + LOANS_FILE, body)
    local, remote = ScenarioBlocks(1, SHOCKS), ScenarioBlocks(1, SHOCKS)
    for j in (1, 0, 2, 1):
        got = remote.scenario(s3_store, BUCKET, _folder(0), 0, j)
        assert got.equals(local.scenario(store, BUCKET, _folder(0), 0, j))
        assert got.equals(table.slice(j * 6, 6))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_rows_held_keep_no_file_open(store: LocalObjectStore) -> None:
    table = _rows(4)
    for i in range(30):
        store.put(BUCKET, _folder(i) + LOANS_FILE, encode_rows(table, len(SHOCKS)).to_pybytes())
    blocks = ScenarioBlocks(30, SHOCKS)
    before = len(os.listdir("/proc/self/fd"))
    held = [blocks.scenario(store, BUCKET, _folder(i), i, j) for j in (0, 2) for i in range(30)]
    assert len(os.listdir("/proc/self/fd")) == before
    for k, rows in enumerate(held):
        j = 0 if k < 30 else 2
        assert rows.equals(table.slice(j * 4, 4))
