"""The reduction's merge of sorted batches, its Parquet writer thread, its BLAS pin and
the faster exact helpers: same results as before, bounded memory, errors surfaced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from montemap.credit import contributions, exact_sum, reduce_loans, reduce_merge
from montemap.credit.batch import process_batch
from montemap.credit.contributions import raw_contributions
from montemap.credit.exact_sum import TopN
from montemap.credit.generator import generate
from montemap.credit.model import conditional_pd
from montemap.credit.portfolio import local_destination
from montemap.credit.reduce import reduce_run
from montemap.credit.reduce_blas import _controls, single_thread_blas
from montemap.credit.reduce_merge import check_increasing, merged
from montemap.credit.reduce_scan import BatchInfo, BatchTable, ReduceError, id_array, key_groups
from montemap.credit.reduce_writer import BackgroundParquet
from montemap.credit.simulate import inventory_items
from montemap.storage import LocalObjectStore
from tests.credit.test_reduce_streaming import PARAMS, _assert_same

AS_OF = dt.date(2026, 11, 27)


def _batches(key_lists: list[list[int]]) -> tuple[list[BatchInfo], dict[str, pa.Table]]:
    infos, tables = [], {}
    for position, numbers in enumerate(key_lists):
        keys = sorted(f"k{n:06d}" for n in numbers)
        batch_id = f"b{position:03d}"
        tables[batch_id] = pa.table({"key": keys, "n": [int(k[1:]) for k in keys]})
        infos.append(BatchInfo(batch_id, position, [len(keys)], len(keys), keys[0], keys[-1]))
    return infos, tables


def test_straddling_batches_merge_in_key_order_holding_only_what_overlaps() -> None:
    # 40 batches of 25 consecutive keys; batch 0 also holds the last 5 keys of the book,
    # so its range covers every other batch (one "group" of all 40 before)
    lists = [list(range(25 * i, 25 * i + 25)) for i in range(40)]
    lists[0] += list(range(1000, 1005))
    infos, tables = _batches(lists)
    read, held, peak = [], [0], [0]

    def load(info: BatchInfo) -> pa.Table:
        read.append(info.batch_id)
        held[0] += tables[info.batch_id].num_rows
        peak[0] = max(peak[0], held[0])
        return tables[info.batch_id]

    out = []
    for piece in merged(infos, load):
        held[0] -= piece.num_rows
        out.extend(piece.column("key").to_pylist())
    assert out == sorted(k for t in tables.values() for k in t.column("key").to_pylist())
    assert sorted(read) == sorted(tables) and len(read) == len(set(read))  # each read once
    assert peak[0] <= 30 + 25  # the straddler's rows and one other batch's, never the book


def _reference_groups(infos: list[BatchInfo]) -> list[list[int]]:
    """Groups of overlapping key ranges as Python strings order them (the plain walk)."""
    ranged = sorted((b for b in infos if b.low is not None), key=lambda b: (b.low, b.position))
    groups: list[list[int]] = []
    high = ""
    for info in ranged:
        assert info.low is not None and info.high is not None
        if groups and info.low <= high:
            groups[-1].append(info.position)
            high = max(high, info.high)
        else:
            groups.append([info.position])
            high = info.high
    return groups


def test_batch_table_orders_and_groups_key_ranges_as_python_strings_do() -> None:
    # keys from every part of Unicode (an astral character sorts after U+FFFF in UTF-8
    # and in Python, not in UTF-16; a lone surrogate, which JSON can carry, sorts between)
    rng = np.random.default_rng(4)
    alphabet = ["a", "b", "z", "é", "\ud7ff", "\ud800", "\ue000", "\uffff", "\U0001f600", "#1"]
    infos = []
    for position in range(300):
        if rng.random() < 0.1:
            infos.append(BatchInfo(f"b{position}", position, [0], 0))  # no key range
            continue
        prefix = "".join(rng.choice(alphabet, size=2))  # narrow ranges: some overlap
        keys = [prefix + "".join(rng.choice(alphabet, size=rng.integers(0, 3))) for _ in "ab"]
        rows = int(rng.integers(0, 5))
        infos.append(BatchInfo(f"b{position}", position, [rows], rows, min(keys), max(keys)))
    table = BatchTable(id_array([b.batch_id for b in infos]), 1)
    for info in infos:
        table.rows[info.position] = info.rows
        table.distinct[info.position] = info.distinct
        table.ranged(info.low, info.high)
    table.finish()
    expected = sorted((b for b in infos if b.low is not None), key=lambda b: (b.low, b.position))
    assert table.key_order().tolist() == [b.position for b in expected]
    assert list(table.infos(table.key_order())) == expected
    assert [g.tolist() for g in key_groups(table)] == _reference_groups(infos)
    assert len(_reference_groups(infos)) > 10  # the ranges both overlap and not
    assert table.batch_id(7) == "b7" and len(table) == 300


def test_overlapping_batches_interleave_and_a_repeated_key_is_refused() -> None:
    infos, tables = _batches([[1, 4, 7, 10], [2, 5, 8], [3, 6, 9, 11]])
    pieces = list(merged(infos, lambda b: tables[b.batch_id]))
    assert [k for p in pieces for k in p.column("n").to_pylist()] == list(range(1, 12))
    check_increasing(iter(pieces))
    infos, tables = _batches([[1, 4, 7], [2, 4, 9]])
    with pytest.raises(ReduceError, match="batches overlap"):
        check_increasing(merged(infos, lambda b: tables[b.batch_id]))


def test_straddling_generated_batches_identical_to_whole_table_reduce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
    monkeypatch.setattr(exact_sum, "LEAF", 128)
    monkeypatch.setattr(contributions, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "slice_rows", lambda centres: 37)
    generate(local_destination(tmp_path / "data"), 900, seed=6, as_of=AS_OF)
    source = LocalObjectStore(tmp_path / "data" / "buckets")
    items = inventory_items(source)
    work = LocalObjectStore(tmp_path / "work")
    half = (len(items) + 1) // 2
    ids = []
    for start in range(0, half, 40):  # each batch: 40 objects of the first half, 40 of the second
        end = min(start + 40, half)
        chosen = items[start:end] + items[half + start : half + end]
        event = {"Items": chosen, "BatchInput": PARAMS.to_batch_input()}
        ids.append(process_batch(event, source, work)["batch_id"])
    _assert_same(work, ids, tmp_path / "out")


def test_background_parquet_writes_in_order_and_raises_the_threads_error(tmp_path: Path) -> None:
    sink = BackgroundParquet(tmp_path / "a.parquet", {"compression": "zstd"})
    parts = [pa.table({"x": np.arange(i * 100, i * 100 + 100)}) for i in range(7)]
    for part in parts:
        sink.write(part)
    sink.close()
    assert pq.read_table(tmp_path / "a.parquet").column("x").to_pylist() == list(range(700))
    broken = BackgroundParquet(tmp_path / "b.parquet", {"compression": "zstd"})
    broken.write(parts[0])
    with pytest.raises(ValueError, match="schema does not match"):
        for _ in range(5):  # the thread refuses a table of another schema
            broken.write(pa.table({"y": ["text"]}))
        broken.close()
    broken.close()  # closed once, quietly


def test_single_thread_blas_pins_and_restores() -> None:
    controls = _controls()
    if not controls:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS with thread controls")
    before = [int(get()) for _, get in controls]
    with single_thread_blas():
        with single_thread_blas():
            assert [int(get()) for _, get in controls] == [1] * len(controls)
        assert [int(get()) for _, get in controls] == [1] * len(controls)
    assert [int(get()) for _, get in controls] == before


def test_raw_contributions_are_conditional_pds_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    pd, rho = rng.uniform(1e-4, 0.3, 500), rng.uniform(0.03, 0.24, 500)
    centres, mix = rng.normal(-2.0, 1.0, 48), rng.uniform(0.0, 1.0, (48, 4))
    expected = conditional_pd(pd[:, None], rho[:, None], centres[None, :]) @ mix
    assert np.array_equal(raw_contributions(pd, rho, centres, mix), expected)


@pytest.mark.parametrize("nan", [False, True])
def test_top_n_matches_a_stable_argsort_with_ties(nan: bool) -> None:
    rng = np.random.default_rng(9)
    values = np.round(rng.normal(0.0, 1.0, 4000), 1)  # many ties
    if nan:
        values[[5, 77]] = np.nan
    top = TopN(25)
    for start in range(0, 4000, 700):
        top.add(values[start : start + 700], start, lambda i, start=start: start + i)
    assert [p for _, p in top.items()] == np.argsort(-values, kind="stable")[:25].tolist()


def test_a_scenario_shorter_than_batch_json_says_is_refused(tmp_path: Path) -> None:
    generate(local_destination(tmp_path / "data"), 120, seed=2, as_of=AS_OF)
    source = LocalObjectStore(tmp_path / "data" / "buckets")
    work = LocalObjectStore(tmp_path / "work")
    items = inventory_items(source)
    ids = [
        process_batch(
            {"Items": items[i : i + 60], "BatchInput": PARAMS.to_batch_input()}, source, work
        )["batch_id"]
        for i in range(0, len(items), 60)
    ]
    key = PARAMS.batch_key(ids[1], "loans.arrow")
    with ipc.open_file(pa.py_buffer(work.get(PARAMS.output_bucket, key))) as reader:
        parts = [reader.get_batch(j) for j in range(reader.num_record_batches)]
    parts[1] = parts[1].slice(0, parts[1].num_rows - 1)  # one loan lost from scenario 150 bp
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, parts[0].schema) as writer:
        for part in parts:
            writer.write_batch(part)
    work.put(PARAMS.output_bucket, key, sink.getvalue().to_pybytes())
    with pytest.raises(ReduceError, match=f"batch {ids[1]}: scenario 150 bp has"):
        reduce_run(work, PARAMS, ids, out_dir=tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())
