"""The workers' batch handler over a real local object store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.ipc as ipc
import pytest

from montemap.credit.batch import batch_id_for, handle_batch
from montemap.credit.objects import Item
from montemap.credit.params import INVALID_BATCH, BatchInputError
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio, record

SRC = "montemap-source"
OUT = "montemap-results"


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path / "buckets")
    s.create_bucket(SRC)
    for i, rec in enumerate(portfolio(12), start=1):
        s.put(SRC, f"data/data-gen-{i:06d}.csv", csv_bytes([rec]))
    s.put(SRC, "data/bad-rate.csv", csv_bytes([record(Rate="abc")]))
    s.put(SRC, "data/empty.csv", b"")
    s.put(SRC, "data/big.csv", b"a" * (2 << 20))
    return s


def _event(keys: list[str], **batch_input: object) -> dict[str, object]:
    bi = {
        "output_bucket": OUT,
        "output_prefix": "runs/r1",
        "paths": 64,
        "seed": 3,
        "as_of": "2026-11-27",
        "shocks_bp": [0, 250],
    }
    bi.update(batch_input)
    return {"Items": [{"Bucket": SRC, "Key": k, "Size": 1} for k in keys], "BatchInput": bi}


KEYS = [f"data/data-gen-{i:06d}.csv" for i in range(1, 13)]


def test_handle_batch_writes_outputs(store: LocalObjectStore) -> None:
    keys = [*KEYS, "data/bad-rate.csv", "data/empty.csv", "data/big.csv", "data/missing.csv"]
    out = handle_batch(_event(keys), None, store=store)
    bid = batch_id_for([Item(SRC, k) for k in keys])
    assert out["batch_id"] == bid
    assert (out["objects"], out["loans"], out["rejected"]) == (16, 12 - out["matured"], 4)
    assert [f["shock_bp"] for f in out["flagged"]] == [0, 250]
    assert out["output"] == f"s3://{OUT}/runs/r1/batches/{bid}/"
    folder = f"runs/r1/batches/{bid}"
    meta = json.loads(store.get(OUT, f"{folder}/batch.json"))
    reasons = {r["key"]: r["reason"] for r in meta["rejects"]}
    assert reasons["data/bad-rate.csv"] == "column 'Rate': 'abc' is not a number"
    assert reasons["data/empty.csv"] == "empty object"
    assert reasons["data/big.csv"] == "object is larger than 1 MB (1048576 bytes)"
    assert reasons["data/missing.csv"].startswith("cannot read object")
    reader = ipc.open_file(io.BytesIO(store.get(OUT, f"{folder}/loans.arrow")))
    assert [reader.get_batch(j).num_rows for j in range(reader.num_record_batches)] == [
        out["loans"],
        out["loans"],
    ]  # one record batch per scenario
    table = reader.read_all()
    assert table.column("shock_bp").to_pylist() == [0] * out["loans"] + [250] * out["loans"]
    with np.load(io.BytesIO(store.get(OUT, f"{folder}/paths.npz"))) as npz:
        assert npz["loss_cents"].shape == (2, 64)
        assert npz["shocks_bp"].tolist() == [0, 250]


def test_each_scenario_is_one_record_batch_in_the_runs_order(store: LocalObjectStore) -> None:
    """Shocks given out of order: record batch j holds shocks_bp[j], its rows sorted by key,
    and the handler's flagged counts are those of the rows' WillDefault."""
    keys = list(reversed(KEYS))
    out = handle_batch(_event(keys, shocks_bp=[250, -100, 0], paths=256), None, store=store)
    data = store.get(OUT, f"runs/r1/batches/{out['batch_id']}/loans.arrow")
    reader = ipc.open_file(io.BytesIO(data))
    assert reader.num_record_batches == 3
    flagged = []
    for j, shock in enumerate([250, -100, 0]):
        rows = reader.get_batch(j)
        assert set(rows.column("shock_bp").to_pylist()) == {shock}
        got = rows.column("key").to_pylist()
        assert got == sorted(got) and len(got) == out["loans"] and set(got) <= set(KEYS)
        flagged.append(rows.column("WillDefault").to_pylist().count("YES"))
    assert out["flagged"] == [
        {"shock_bp": s, "flagged": c} for s, c in zip([250, -100, 0], flagged, strict=True)
    ]
    assert sum(flagged) > 0


def test_a_retried_batch_overwrites_its_own_output(store: LocalObjectStore) -> None:
    first = handle_batch(_event(KEYS), None, store=store)
    before = store.get(OUT, f"runs/r1/batches/{first['batch_id']}/paths.npz")
    second = handle_batch(_event(KEYS), None, store=store)
    assert second["batch_id"] == first["batch_id"]
    listing = store.list_page(OUT, "runs/r1/batches/").objects
    assert len(listing) == 3
    assert store.get(OUT, f"runs/r1/batches/{first['batch_id']}/paths.npz") == before
    named = handle_batch(_event(KEYS, batch_id="batch-0001"), None, store=store)
    assert named["batch_id"] == "batch-0001"


def test_store_from_the_environment(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(Path(store.root).parent))
    out = handle_batch(_event(KEYS[:2]), None)
    assert out["objects"] == 2
    monkeypatch.delenv("MONTEMAP_DATA_DIR")
    monkeypatch.delenv("MONTEMAP_STORE", raising=False)
    with pytest.raises(BatchInputError, match="MONTEMAP_DATA_DIR"):
        handle_batch(_event(KEYS[:2]), None)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "the batch event must be an object"),
        ({"Items": []}, "Items must be a non-empty list"),
        ({"Items": ["k"]}, "Items[0] must be an object"),
        ({"Items": [{"Bucket": SRC}]}, "Items[0].Key must be a non-empty string"),
        ({"Items": [{"Bucket": SRC, "Key": "k"}]}, "BatchInput must be an object"),
        (_event(KEYS, colour="red"), "BatchInput has unknown key(s) colour"),
        (_event(KEYS, paths=0), "BatchInput.paths must be from 1 to 10000000, got 0"),
        (_event(KEYS, paths="10"), "BatchInput.paths must be an integer"),
        (_event(KEYS, seed=-1), "BatchInput.seed must be from 0"),
        (_event(KEYS, shocks_bp=[0, 0]), "BatchInput.shocks_bp repeats a scenario"),
        (_event(KEYS, shocks_bp=[]), "BatchInput.shocks_bp must be a non-empty list"),
        (_event(KEYS, as_of="2026-02-30"), "BatchInput.as_of is not a valid date"),
        (_event(KEYS, cutoff=0), "BatchInput.cutoff must be in (0.0, 1.0]"),
        (_event(KEYS, backend="cuda"), "unknown kernel backend 'cuda'"),
        (_event(KEYS, batch_id="../x"), "BatchInput.batch_id must be"),
        ({"Items": [{"Bucket": SRC, "Key": "k"}], "BatchInput": {"paths": 3}}, "output_bucket"),
    ],
)
def test_invalid_events(store: LocalObjectStore, event: object, message: str) -> None:
    with pytest.raises(BatchInputError) as info:
        handle_batch(event, None, store=store)
    assert info.value.error == INVALID_BATCH
    assert message in (info.value.cause or "")


def test_bucket_labels_boundaries() -> None:
    from montemap.credit.batch import RATE_BUCKETS, SIZE_BANDS, TERM_BUCKETS, bucket_labels

    rates = bucket_labels(np.array([0.0, 3.99, 4.0, 9.99, 10.0, 30.0]), RATE_BUCKETS)
    assert rates.tolist() == ["<4%", "<4%", "4-6%", "8-10%", ">=10%", ">=10%"]
    terms = bucket_labels(np.array([1.0, 12, 13, 360]), TERM_BUCKETS, right=True)
    assert terms.tolist() == ["<=12", "<=12", "13-36", ">240"]
    sizes = bucket_labels(np.array([9999.0, 10000, 1e6]), SIZE_BANDS)
    assert sizes.tolist() == ["<10k", "10k-50k", ">=1M"]
