"""``montemap simulate`` end to end: bit-identical results for any batching."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit.batch import handle_batch
from montemap.credit.params import RunParams
from montemap.credit.reduce import ReduceError, handle_reduce, reduce_run
from montemap.credit.simulate import SimulateError, read_tape, run_simulation
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio, record

PARAMS = RunParams(paths=200, seed=17, as_of=dt.date(2026, 11, 27), shocks_bp=(0, 100, 300))


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = portfolio(150)
    rows[10] = record(AccountID="77", LoanAmount="-100")
    rows[20] = record(AccountID="78", OriginationDate="02/31/2020")
    rows[30] = record(AccountID="79", LoanTerm="12", OriginationDate="01/01/2010")  # matured
    path = tmp_path_factory.mktemp("tape") / "tape.csv"
    header = [*portfolio(1)[0].keys(), "NOI"]
    path.write_bytes(csv_bytes(rows, header))
    return path


def _files(out: Path) -> tuple[dict, pa.Table, str]:
    summary = json.loads((out / "summary.json").read_text())
    return summary, pq.read_table(out / "loans.parquet"), (out / "rejects.csv").read_text()


def test_shocks_in_any_order_give_each_scenario_its_own_loans(tape: Path, tmp_path: Path) -> None:
    """Shocks given out of order: each scenario's per-loan figures (flagged, mean PD) are
    its own, the same as in a run with the shocks in ascending order (the batches once
    wrote their scenarios sorted while the reduction read them in the run's order)."""
    scenarios = {}
    for name, shocks in (("up", (0, 300)), ("down", (300, 0))):
        params = RunParams(paths=200, seed=17, as_of=dt.date(2026, 11, 27), shocks_bp=shocks)
        run_simulation(tmp_path / name, params, tape=tape, batch_size=40, report=False)
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        # vs_base compares with the first scenario listed, so it is left out
        scenarios[name] = {
            sc["shock_bp"]: {k: v for k, v in sc.items() if k != "vs_base"}
            for sc in summary["scenarios"]
        }
    assert scenarios["up"] == scenarios["down"]
    assert scenarios["up"][300]["mean_pd"] > scenarios["up"][0]["mean_pd"]


def test_bit_identical_across_batch_sizes_and_workers(tape: Path, tmp_path: Path) -> None:
    runs = []
    for i, (batch_size, workers) in enumerate([(150, 1), (7, 1), (40, 2)]):
        out = tmp_path / f"run{i}"
        run_simulation(out, PARAMS, tape=tape, batch_size=batch_size, workers=workers, report=False)
        runs.append(_files(out))
        assert sorted(p.name for p in out.iterdir()) == [
            "contributions.parquet",
            "loans.parquet",
            "matured.csv",
            "rejects.csv",
            "summary.json",
        ]
    (s0, t0, r0) = runs[0]
    for s, t, r in runs[1:]:
        s = dict(s)
        assert s.pop("batches") != s0["batches"]
        assert s == {k: v for k, v in s0.items() if k != "batches"}
        assert t.equals(t0)
        assert r == r0
        c0 = pq.read_table(tmp_path / "run0" / "contributions.parquet")
        for i in (1, 2):
            assert pq.read_table(tmp_path / f"run{i}" / "contributions.parquet").equals(c0)


def test_run_contents(tape: Path, tmp_path: Path) -> None:
    outputs = run_simulation(tmp_path, PARAMS, tape=tape, batch_size=50, report=False)
    s, table, rejects = _files(tmp_path)
    assert s == json.loads(json.dumps(outputs.summary))
    assert (s["objects"], s["rejected"], s["matured"], s["loans"]) == (150, 2, 1, 147)
    assert s["paths"] == 200 and s["seed"] == 17 and s["as_of"] == "2026-11-27"
    assert s["shocks_bp"] == [0, 100, 300]
    assert s["defaults_applied"]["CollateralValue"] == 150 - 2 - 0
    rows = list(csv.reader(rejects.splitlines()))
    assert rows == [
        ["key", "reason"],
        ["tape.csv#11", "column 'LoanAmount': value -100 is negative"],
        ["tape.csv#21", "column 'OriginationDate': '02/31/2020' is not a valid date"],
    ]
    assert table.num_rows == 3 * 147
    for name in (
        "key",
        "AccountID",
        "ZipCode",
        "LoanType",
        "RateType",
        "shock_bp",
        "balance",
        "remaining_term",
        "payment",
        "shocked_payment",
        "payment_change",
        "dti",
        "dscr",
        "pd0",
        "pd_stressed",
        "sim_default_freq",
        "sim_default_se",
        "lgd",
        "ead",
        "expected_loss",
        "WillDefault",
    ):
        assert name in table.column_names
    losses = []
    for sc in s["scenarios"]:
        for name in (
            "exposure",
            "expected_loss",
            "unexpected_loss",
            "defaults_flagged",
            "mean_pd",
            "expected_loss_se",
            "mean_pd0",
            "default_count",
            "loss_histogram",
            "pd_histogram",
        ):
            assert name in sc
        assert set(sc["var"]) == set(sc["es"]) == set(sc["var_se"]) == {"0.99", "0.999"}
        assert sc["es"]["0.99"] >= sc["var"]["0.99"] >= sc["expected_loss"] * 0
        assert sc["var"]["0.999"] >= sc["var"]["0.99"]
        assert sum(sc["loss_histogram"]["counts"]) == 200
        assert sum(sc["pd_histogram"]["counts"]) == 147
        assert len(sc["loss_histogram"]["edges"]) == len(sc["loss_histogram"]["counts"]) + 1
        for name, groups in sc["breakdowns"].items():
            assert sum(g["loans"] for g in groups) == 147, name
            assert sum(g["exposure"] for g in groups) == pytest.approx(sc["exposure"])
        # simulated and closed-form expected loss agree within Monte Carlo error
        assert abs(sc["expected_loss"] - sc["expected_loss_model"]) < 5 * sc["expected_loss_se"] + 1
        losses.append(sc["expected_loss_model"])
    assert losses == sorted(losses)  # higher rates, higher expected loss


def test_data_dir_source_and_cli(tmp_path: Path) -> None:
    from montemap.credit.generator import generate
    from montemap.credit.portfolio import local_destination

    generate(local_destination(tmp_path / "data"), 60, seed=2, as_of=dt.date(2026, 11, 1))
    store = LocalObjectStore(tmp_path / "data" / "buckets")
    store.put("montemap-source", "data/data-gen-000007.csv", b"\x00\x01binary")
    out = tmp_path / "out"
    code = main(
        [
            "simulate",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--paths",
            "50",
            "--shocks",
            "0,200",
            "--as-of",
            "2026-11-27",
            "--batch-size",
            "25",
            "--workers",
            "1",
            "--no-report",
        ]
    )
    assert code == 0
    s, table, rejects = _files(out)
    assert s["objects"] == 60 and s["rejected"] == 1
    assert "data/data-gen-000007.csv,binary content (not UTF-8 text)" in rejects
    assert table.column("key").to_pylist()[0] == "data/data-gen-000001.csv"


def test_cli_errors(tape: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--loans", str(tape), "--out", str(tmp_path), "--shocks", "0,x"]) == 1
    assert "--shocks must be integers" in capsys.readouterr().err
    assert main(["simulate", "--loans", str(tape), "--out", str(tmp_path), "--paths", "0"]) == 1
    assert "--paths must be from 1" in capsys.readouterr().err
    assert main(["simulate", "--loans", str(tmp_path / "no.csv"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(["simulate", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    )
    assert "no portfolio inventory" in capsys.readouterr().err


def test_parquet_tape(tmp_path: Path) -> None:
    rows = portfolio(5)
    table = pa.table({k: [r.get(k) for r in rows] for k in rows[0]})
    table = table.set_column(
        table.column_names.index("Rate"), "Rate", pa.array([float(r["Rate"]) for r in rows])
    )
    table = table.set_column(
        table.column_names.index("OriginationDate"),
        "OriginationDate",
        pa.array([dt.date(2025, 1, i + 1) for i in range(5)]),
    )
    pq.write_table(table, tmp_path / "t.parquet")
    records = read_tape(tmp_path / "t.parquet")
    assert records[0][0] == "t.parquet#1"
    assert records[0][1]["OriginationDate"] == "2025-01-01"
    outputs = run_simulation(tmp_path / "out", PARAMS, tape=tmp_path / "t.parquet", report=False)
    assert outputs.summary["loans"] == 5 and outputs.summary["rejected"] == 0
    with pytest.raises(SimulateError, match="not a readable Parquet file"):
        (tmp_path / "bad.parquet").write_bytes(b"nope")
        read_tape(tmp_path / "bad.parquet")


def test_workflow_reduce_and_guards(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("src")
    keys = []
    for i, rec in enumerate(portfolio(20)):
        keys.append(f"d/{i:03d}.csv")
        store.put("src", keys[-1], csv_bytes([rec]))
    bi = {
        "output_bucket": "res",
        "output_prefix": "run1",
        "paths": 40,
        "seed": 1,
        "as_of": "2026-11-27",
        "shocks_bp": [0, 100],
    }
    for chunk in (keys[:8], keys[8:]):
        handle_batch(
            {"Items": [{"Bucket": "src", "Key": k} for k in chunk], "BatchInput": bi},
            None,
            store=store,
        )
    out = handle_reduce(bi, None, store=store)
    assert out["loans"] + json.loads(store.get("res", "run1/summary.json"))["matured"] == 20
    assert out["summary"] == "s3://res/run1/summary.json"
    assert store.get("res", "run1/rejects.csv") == b"key,reason\n"
    # a batch of another run under the same prefix is refused
    other = dict(bi, seed=2)
    handle_batch(
        {"Items": [{"Bucket": "src", "Key": keys[0]}], "BatchInput": other}, None, store=store
    )
    with pytest.raises(ReduceError, match="other run parameters"):
        handle_reduce(bi, None, store=store)
    # overlapping batches (the same loan twice) are refused
    params = RunParams(
        output_bucket="res",
        output_prefix="run2",
        paths=40,
        seed=1,
        as_of=dt.date(2026, 11, 27),
        shocks_bp=(0, 100),
    )
    bi2 = params.to_batch_input()
    for chunk in (keys[:8], keys[5:9]):
        handle_batch(
            {"Items": [{"Bucket": "src", "Key": k} for k in chunk], "BatchInput": bi2},
            None,
            store=store,
        )
    with pytest.raises(ReduceError, match="batches overlap"):
        reduce_run(store, params)
    with pytest.raises(ReduceError, match="no batch outputs"):
        reduce_run(store, RunParams(output_bucket="res", output_prefix="none"))


def test_reduce_event_validation(tmp_path: Path) -> None:
    from montemap.credit.params import BatchInputError

    store = LocalObjectStore(tmp_path / "buckets")
    with pytest.raises(BatchInputError, match="the reduce event must be an object"):
        handle_reduce([], None, store=store)
    with pytest.raises(BatchInputError, match="batch_ids must be a list"):
        handle_reduce({"output_bucket": "res", "batch_ids": "b-1"}, None, store=store)
    with pytest.raises(BatchInputError, match="unknown key"):
        handle_reduce({"output_bucket": "res", "colour": 1}, None, store=store)


def test_seed_layout_portfolio_runs(tmp_path: Path) -> None:
    """The seed layout's incoherent records saturate the scorecard but stay finite."""
    from montemap.credit.generator import generate
    from montemap.credit.portfolio import local_destination

    generate(
        local_destination(tmp_path / "data"), 80, layout="seed", seed=4, as_of=dt.date(2026, 11, 1)
    )
    outputs = run_simulation(tmp_path / "out", PARAMS, data_dir=tmp_path / "data", report=False)
    table = pq.read_table(tmp_path / "out" / "loans.parquet")
    for name in ("pd0", "pd_stressed", "lgd", "balance", "expected_loss", "rho"):
        values = table.column(name).to_numpy()
        assert not np.isnan(values).any(), name
    assert outputs.summary["loans"] + outputs.summary["matured"] == 80


def test_documented_schema_matches_loans_parquet(tape: Path, tmp_path: Path) -> None:
    """docs/model.md lists exactly the columns of loans.parquet, in order."""
    import re

    doc = (Path(__file__).parents[2] / "docs" / "model.md").read_text()
    section = doc.split("### `loans.parquet`", 1)[1].split("###", 1)[0]
    documented = re.findall(r"^\| `([A-Za-z0-9_]+)` \|", section, flags=re.M)
    run_simulation(tmp_path, PARAMS, tape=tape, batch_size=150, report=False)
    assert pq.read_schema(tmp_path / "loans.parquet").names == documented


def test_reduce_with_a_batch_of_rejects_only(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("src")
    store.put("src", "bad.csv", b"")
    store.put("src", "good.csv", csv_bytes([record()]))
    bi = {"output_bucket": "res", "paths": 16, "as_of": "2026-11-27", "shocks_bp": [0, 100]}
    for key in ("bad.csv", "good.csv"):
        handle_batch(
            {"Items": [{"Bucket": "src", "Key": key}], "BatchInput": bi}, None, store=store
        )
    out = handle_reduce(bi, None, store=store)
    assert (out["loans"], out["rejected"]) == (1, 1)
    table = pq.read_table(pa.BufferReader(store.get("res", "loans.parquet")))
    assert table.column("shock_bp").to_pylist() == [0, 100]
    assert store.get("res", "rejects.csv") == b"key,reason\nbad.csv,empty object\n"
