"""The reduction's faster parts (session 18): each gives what the code it replaced gave
(``paths.npz`` as ``np.load`` reads it, label codes and group sums as the plain per-label code, the report's
top loans as a full sort), the read-ahead starts at once and stops cleanly, and the
"Reduce and Report" function uploads while it writes the report."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from montemap.credit.exact_sum import GroupSums
from montemap.credit.generator import generate
from montemap.credit.portfolio import local_destination
from montemap.credit.reduce import reduce_run
from montemap.credit.reduce_files import RUN_FILES
from montemap.credit.reduce_loans import label_codes
from montemap.credit.reduce_npz import read_npz
from montemap.credit.reduce_prefetch import prefetched
from montemap.credit.report_loans import _top_candidates
from montemap.credit.simulate import inventory_items
from montemap.storage import LocalObjectStore, ObjectStoreError
from montemap.testing import eventually
from tests.credit.test_reduce_streaming import AS_OF, PARAMS


def _npz(compressed: bool = False, **arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # as Any: mypy would match the arrays against savez's allow_pickle: bool as well
    named = cast(dict[str, Any], arrays)
    (np.savez_compressed if compressed else np.savez)(buf, **named)
    return buf.getvalue()


@pytest.mark.parametrize("compressed", [False, True])
def test_read_npz_gives_what_np_load_gives(compressed: bool) -> None:
    rng = np.random.default_rng(3)
    arrays = {
        "shocks_bp": np.array([0, 100, 300], dtype=np.int64),
        "loss_cents": rng.integers(0, 10**9, size=(3, 7)),
        "weights": np.asfortranarray(rng.random((4, 5))),
        "empty": np.zeros((3, 0), dtype=np.int64),
        "scalar": np.array(2.5),
    }
    raw = _npz(compressed, **arrays)
    names = list(arrays)
    with np.load(io.BytesIO(raw)) as npz:
        expected = [npz[name] for name in names]
    for _ in range(2):  # the second time from the header cache
        got = read_npz(raw, names)
        for want, have in zip(expected, got, strict=True):
            assert have.dtype == want.dtype and have.shape == want.shape
            assert np.array_equal(have, want)
    # another shape with an otherwise equal header is not mistaken for the cached one
    other = read_npz(_npz(loss_cents=np.ones((2, 9), dtype=np.int64)), ["loss_cents"])[0]
    assert other.shape == (2, 9)


def test_read_npz_refuses_what_np_load_refuses() -> None:
    raw = _npz(shocks_bp=np.arange(3), loss_cents=np.arange(6).reshape(2, 3))
    with pytest.raises(KeyError):
        read_npz(raw, ["defaults"])
    with pytest.raises(ValueError):
        read_npz(raw[: len(raw) // 2], ["loss_cents"])
    with pytest.raises(ValueError):
        read_npz(b"not an archive", ["loss_cents"])
    with pytest.raises(ValueError):
        read_npz(_npz(objects=np.array([{"a": 1}], dtype=object)), ["objects"])


class PlainGroupSums:
    """The straightforward per-label counts and sums (every label looked up one by one,
    running totals padded): the oracle :class:`GroupSums` must match bit for bit."""

    def __init__(self, stats: tuple[str, ...]) -> None:
        self.names: dict[str, int] = {}
        self.count = np.zeros(0, dtype=np.int64)
        self.sums = {name: np.zeros(0, dtype=np.float64) for name in stats}

    def codes(self, labels: pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(labels)
        local = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)
        mapping = np.array(
            [
                self.names.setdefault(str(v), len(self.names))
                for v in encoded.dictionary.to_pylist()
            ],
            dtype=np.intp,
        )
        return np.asarray(mapping[local] if mapping.shape[0] else local, dtype=np.intp)

    def add(self, codes: np.ndarray, values: dict[str, np.ndarray]) -> None:
        m = len(self.names)
        counted = np.bincount(codes, minlength=m) + np.pad(self.count, (0, m - len(self.count)))
        self.count = np.asarray(counted, dtype=np.int64)
        seed = np.arange(m, dtype=np.intp)
        for name, running in self.sums.items():
            start = np.pad(running, (0, m - running.shape[0]))
            weights = np.concatenate([start, np.asarray(values[name], dtype=np.float64)])
            summed = np.bincount(np.concatenate([seed, codes]), weights=weights, minlength=m)
            self.sums[name] = np.asarray(summed, dtype=np.float64)


def test_label_codes_match_group_sums_codes_chunk_after_chunk() -> None:
    rng = np.random.default_rng(5)
    names = [f"zip {d}xxxx" for d in "3917052"]
    mine, theirs = GroupSums(()), PlainGroupSums(())
    for size in (0, 1, 40, 7, 300):
        index = rng.integers(0, len(names), size=size)
        # fewer names in early chunks, so new labels keep appearing
        index = index % min(len(names), 2 + size // 50)
        want = theirs.codes(pa.array([names[i] for i in index], type=pa.string()))
        got = label_codes(mine, index, names)
        assert got.tolist() == want.tolist()
        assert mine.names == theirs.names


def test_group_sums_give_the_plain_results_chunk_after_chunk() -> None:
    rng = np.random.default_rng(8)
    names = [f"{d:03d}" for d in rng.integers(0, 999, size=60)]
    mine, theirs = GroupSums(("x", "flag")), PlainGroupSums(("x", "flag"))
    for size in (0, 5, 200, 1, 700):
        labels = pa.array([names[i] for i in rng.integers(0, 12 + size // 20, size=size)])
        values = {"x": rng.normal(size=size), "flag": rng.random(size) < 0.3}
        got, want = mine.codes(labels), theirs.codes(labels)
        assert got.tolist() == want.tolist() and mine.names == theirs.names
        mine.add(got, values)
        theirs.add(want, values)
        assert mine.count.tolist() == theirs.count.tolist()
        for stat in ("x", "flag"):
            assert mine.sums[stat].tobytes() == theirs.sums[stat].tobytes()
    # labels that are not plain strings go the general way
    assert mine.codes(pa.array([1, 2, 1])).tolist() == theirs.codes(pa.array([1, 2, 1])).tolist()


def _top(table: pa.Table, top: int) -> pa.Table:
    order = [("expected_loss", "descending"), ("key", "ascending")]
    return table.take(pc.sort_indices(table, order)[:top])


@pytest.mark.parametrize("with_nan", [False, True])
def test_top_candidates_keep_the_top_loans_of_a_full_sort(with_nan: bool) -> None:
    rng = np.random.default_rng(9)
    n = 900
    losses = rng.integers(0, 40, size=n).astype(np.float64)  # many ties
    if with_nan:
        losses[rng.integers(0, n, size=5)] = np.nan
    table = pa.table({"key": [f"k{i:05d}" for i in rng.permutation(n)], "expected_loss": losses})
    for top in (0, 1, 10, 50):
        kept: pa.Table | None = None
        for start in range(0, n, 128):
            part = _top_candidates(table.slice(start, 128), top)
            both = part if kept is None else pa.concat_tables([kept, part])
            kept = _top(both, top)
        assert kept is not None and kept.equals(_top(table, top))


def test_prefetch_starts_at_once_and_closes_without_being_read() -> None:
    started, made = threading.Event(), []

    def items() -> Iterator[int]:
        started.set()
        for i in range(100):
            made.append(i)
            yield i

    reading = prefetched(iter(items()), depth=2)
    eventually(started.is_set, timeout=10)
    reading.close()
    assert len(made) <= 4  # the queue's two, the item in hand, the one after
    assert list(reading) == []


def test_prefetch_raises_an_error_where_its_item_would_be() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise ValueError("unreadable batch")

    reading = prefetched(iter(items()))
    assert next(reading) == 1
    with pytest.raises(ValueError, match="unreadable batch"):
        next(reading)
    reading.close()


def _run_outputs(root: Path, run: str) -> tuple[dict[str, object], LocalObjectStore]:
    """A generated portfolio's batch outputs under ``runs/<run>`` of montemap-results, as
    ``montemap run`` leaves them, and the function's event."""
    from montemap.credit.batch import process_batch

    generate(local_destination(root), 300, seed=4, as_of=AS_OF)
    store = LocalObjectStore(root / "buckets")
    store.create_bucket("montemap-results")
    bi = {**PARAMS.to_batch_input(), "output_bucket": "montemap-results"}
    bi["output_prefix"] = f"runs/{run}"
    items = inventory_items(store)
    for start in range(0, len(items), 70):
        process_batch({"Items": items[start : start + 70], "BatchInput": bi}, store, store)
    keys = ("shocks_bp", "paths", "seed", "as_of", "cutoff", "estimator")
    event = {"results_bucket": "montemap-results", "run_name": run, **{k: bi[k] for k in keys}}
    return event, store


def test_reduce_and_report_uploads_the_files_simulate_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from montemap.credit.params import parse_batch_input
    from montemap.workflows.functions import reduce_and_report

    event, store = _run_outputs(tmp_path / "data", "r1")
    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(tmp_path / "data"))
    result = reduce_and_report(event)
    local = tmp_path / "data" / "runs" / "r1"
    assert result["report"] == str(local / "report.html") and (local / "report.html").exists()
    params, _ = parse_batch_input(
        json.loads(store.get("montemap-results", "runs/r1/batches/" + _first_batch(store)))[
            "params"
        ]
    )
    reduce_run(store, params, out_dir=tmp_path / "simulate")
    for name in RUN_FILES:
        body = store.get("montemap-results", f"runs/r1/{name}")
        assert body == (local / name).read_bytes() == (tmp_path / "simulate" / name).read_bytes()


def _first_batch(store: LocalObjectStore) -> str:
    from montemap.storage import iter_objects

    for info in iter_objects(store, "montemap-results", "runs/r1/batches/"):
        if info.key.endswith("/batch.json"):
            return info.key.removeprefix("runs/r1/batches/")
    raise AssertionError("no batch")


def test_an_upload_error_is_raised_after_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from montemap.workflows.functions import reduce_and_report

    event, store = _run_outputs(tmp_path / "data", "r2")
    # an object below the key makes "runs/r2/loans.parquet" a folder: the upload fails
    store.put("montemap-results", "runs/r2/loans.parquet/blocker", b"x")
    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ObjectStoreError):
        reduce_and_report(event)
    assert (tmp_path / "data" / "runs" / "r2" / "report.html").exists()
    assert not any(t.name == "reduce-publish" for t in threading.enumerate())


def test_read_npz_refuses_a_damaged_member() -> None:
    raw = _npz(shocks_bp=np.arange(3), loss_cents=np.arange(600).reshape(2, 300))
    good = read_npz(raw, ["loss_cents"])[0]
    assert np.array_equal(good, np.arange(600).reshape(2, 300))
    damaged = bytearray(raw)
    damaged[raw.index(good.tobytes()) + 100] ^= 0xFF  # a byte of the stored array
    with pytest.raises(ValueError):  # zipfile's CRC check, as before
        read_npz(bytes(damaged), ["loss_cents"])
