"""The streaming reduction (issue 13) gives the same bits as the whole-table reduction
(``tests/credit/reference_reduce.py``, the code as it was), whatever the chunking."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.credit import contributions, exact_sum, reduce_loans, reduce_merge
from montemap.credit.batch import process_batch
from montemap.credit.exact_sum import GroupSums, PairwiseSum, TopN
from montemap.credit.generator import generate
from montemap.credit.params import RunParams
from montemap.credit.portfolio import local_destination
from montemap.credit.quality import DuplicateAccountError, check_unique_accounts
from montemap.credit.reduce import NoLoansError, reduce_run
from montemap.credit.reduce_files import MATURED_COLUMNS
from montemap.credit.simulate import _run_tape_batch, inventory_items, read_tape
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio, record
from tests.credit.reference_reduce import reference_reduce

AS_OF = dt.date(2026, 11, 27)
PARAMS = RunParams(
    output_bucket="res", output_prefix="run", paths=200, seed=11, as_of=AS_OF,
    shocks_bp=(0, 150, 300),
)  # fmt: skip


def _generated_batches(root: Path, loans: int, size: int) -> tuple[LocalObjectStore, list[str]]:
    """A generated portfolio (with one unreadable object) in batches of ``size`` objects."""
    generate(local_destination(root / "data"), loans, seed=4, as_of=AS_OF)
    source = LocalObjectStore(root / "data" / "buckets")
    source.put("montemap-source", "data/data-gen-000009.csv", b"\x00binary")
    work = LocalObjectStore(root / "work")
    items = inventory_items(source)
    ids = []
    for start in range(0, len(items), size):
        event = {"Items": items[start : start + size], "BatchInput": PARAMS.to_batch_input()}
        ids.append(process_batch(event, source, work)["batch_id"])
    return work, ids


def _tape_batches(
    root: Path, rows: list[dict[str, str]], size: int, params: RunParams = PARAMS
) -> tuple[LocalObjectStore, list[str]]:
    """A loan tape in batches of ``size`` rows: keys ``tape.csv#1``, ``#10``, ... make the
    batches' key ranges overlap, so the reduction must merge them."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "tape.csv"
    path.write_bytes(csv_bytes(rows, [*portfolio(1)[0].keys(), "NOI"]))
    records = read_tape(path)
    ids = []
    for start in range(0, len(records), size):
        batch_id = f"rows-{start:06d}"
        _run_tape_batch(records[start : start + size], params, batch_id, str(root / "work"))
        ids.append(batch_id)
    return LocalObjectStore(root / "work"), ids


def _assert_same(store: LocalObjectStore, ids: list[str], out: Path) -> None:
    summary, loans, contrib, rejects, matured = reference_reduce(store, PARAMS, ids)
    outputs = reduce_run(store, PARAMS, ids, out_dir=out)
    assert json.dumps(outputs.summary) == json.dumps(summary)
    assert (out / "summary.json").read_text() == json.dumps(summary, indent=1) + "\n"
    assert pq.read_table(out / "loans.parquet").equals(loans, check_metadata=True)
    assert pq.read_table(out / "contributions.parquet").equals(contrib, check_metadata=True)
    want = "".join(f"{k},{r}\n" for k, r in rejects)
    assert (out / "rejects.csv").read_text() == "key,reason\n" + want
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(
        [MATURED_COLUMNS, *([r.get(c, "") for c in MATURED_COLUMNS] for r in matured)]
    )
    assert (out / "matured.csv").read_text() == buf.getvalue()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks, pairwise leaves and contribution slices far smaller than the portfolio, so
    every boundary is crossed (the slices change in both codes alike)."""
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
    monkeypatch.setattr(exact_sum, "LEAF", 128)
    monkeypatch.setattr(contributions, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "_GROUP_ROWS", 150)


def test_generated_portfolio_identical_to_whole_table_reduce(
    tmp_path: Path, small_chunks: None
) -> None:
    store, ids = _generated_batches(tmp_path, 1200, 97)
    _assert_same(store, ids, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rejected"] == 1 and summary["matured"] > 0 and summary["batches"] == len(ids)


def test_identical_with_default_chunks_and_batches_in_any_order(tmp_path: Path) -> None:
    store, ids = _generated_batches(tmp_path, 600, 50)
    _assert_same(store, ids[::-1], tmp_path / "out")


def test_overlapping_tape_batches_identical(tmp_path: Path, small_chunks: None) -> None:
    rows = portfolio(700, seed=3)
    rows[5] = record(AccountID="5", Rate="abc")
    rows[250] = record(AccountID="6", LoanTerm="12", OriginationDate="01/01/2010")  # matured
    store, ids = _tape_batches(tmp_path, rows, 45)
    _assert_same(store, ids, tmp_path / "out")


def test_duplicate_accounts_named_as_before_and_no_partial_files(tmp_path: Path) -> None:
    rows = portfolio(300, seed=8)
    for i in (3, 120, 299):  # AccountIDs repeated across batches
        rows[i + 1 if i < 299 else 0]["AccountID"] = rows[i]["AccountID"]
    store, ids = _tape_batches(tmp_path, rows, 40)
    _, loans, _, _, _ = reference_reduce(store, PARAMS, ids)
    first = loans.filter(pa.compute.equal(loans.column("shock_bp"), 0))
    with pytest.raises(DuplicateAccountError) as expected:
        check_unique_accounts(first.column("AccountID").to_numpy(), first.column("key").to_pylist())
    out = tmp_path / "out"
    out.mkdir()
    (out / "loans.parquet").write_bytes(b"an earlier run")
    with pytest.raises(DuplicateAccountError) as got:
        reduce_run(store, PARAMS, ids, out_dir=out)
    assert str(got.value) == str(expected.value)
    assert sorted(p.name for p in out.iterdir()) == ["loans.parquet"]
    assert (out / "loans.parquet").read_bytes() == b"an earlier run"


def test_no_loans_writes_only_the_lists(tmp_path: Path) -> None:
    rows = [record(AccountID="1", Rate="x"), record(AccountID="2", LoanTerm="1")]
    store, ids = _tape_batches(tmp_path, rows, 1)
    out = tmp_path / "out"
    with pytest.raises(NoLoansError, match="none of the 2 records"):
        reduce_run(store, PARAMS, ids, out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["matured.csv", "rejects.csv"]
    assert (out / "rejects.csv").read_text().splitlines()[1].startswith("tape.csv#1,")
    assert (out / "matured.csv").read_text().splitlines()[0] == ",".join(MATURED_COLUMNS)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 127, 128, 129, 1000, 4097, 100_003])
def test_pairwise_sum_matches_numpy_in_any_chunks(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.lognormal(0.0, 3.0, n)
    total = PairwiseSum(n, leaf=128 if n < 5000 else 1024)
    start = 0
    while start < n:
        step = int(rng.integers(1, 300))
        total.add(values[start : start + step])
        start += step
    assert total.value() == float(values.sum())
    with pytest.raises(ValueError, match="announced"):
        PairwiseSum(n + 1).value()


def test_group_sums_and_top_n_match_whole_array_code() -> None:
    rng = np.random.default_rng(5)
    labels = rng.choice(np.array(["a", "b", "c", "d"]), 5000)
    values = np.round(rng.lognormal(0.0, 2.0, 5000), 1)  # ties, to check their order
    groups, top = GroupSums(("x",)), TopN(10)
    for start in range(0, 5000, 333):
        part = slice(start, start + 333)
        groups.add(groups.codes(pa.array(labels[part])), {"x": values[part]})
        top.add(values[part], start, lambda i, start=start: start + i)
    index = np.array([groups.names[v] for v in labels])
    assert (groups.sums["x"] == np.bincount(index, weights=values, minlength=4)).all()
    assert (groups.count == np.bincount(index, minlength=4)).all()
    assert [p for _, p in top.items()] == np.argsort(-values, kind="stable")[:10].tolist()
