"""Records at the edges of what the loan parser accepts simulate without warnings on
stderr: a gross income of 1e-320 (its DTI overflows to infinity: NumPy printed
"RuntimeWarning: overflow encountered in divide" on the terminal), a ``Rho`` of 0."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pyarrow.parquet as pq

from montemap.credit.params import RunParams
from montemap.credit.simulate import run_simulation
from tests.credit.helpers import csv_bytes, record


def test_tiny_income_and_zero_correlation_simulate_without_warnings(tmp_path: Path) -> None:
    rows = [
        record(AccountID="1", GrossIncome="1e-320"),
        record(AccountID="2", Rho="0"),
        record(AccountID="3", Rho="1e-320"),
        record(AccountID="4"),
    ]
    tape = tmp_path / "edge.csv"
    tape.write_bytes(csv_bytes(rows, [*rows[0].keys(), "Rho"]))
    params = RunParams(paths=20, seed=0, as_of=dt.date(2026, 1, 1), shocks_bp=(0, 300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run_simulation(tmp_path / "out", params, tape=tape, report=False)
    assert out.summary["loans"] == 4 and out.summary["rejected"] == 0
    table = pq.read_table(tmp_path / "out" / "loans.parquet").to_pydict()
    by_key = dict(zip(table["key"], table["dti"], strict=True))
    assert by_key["edge.csv#1"] == float("inf")
