"""The loans' simulated expected losses (``loans.parquet``) add up to the portfolio's
simulated expected loss (``summary.json``) in every scenario, whatever the number of
paths: the importance-sampling weights average 1 only in expectation, so a loan that
defaults on every path has a weighted default frequency above 1 with few paths, and
clipping it at 1 made the per-loan figures disagree with the totals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from montemap.credit.params import RunParams
from montemap.credit.simulate import run_simulation
from tests.credit.helpers import csv_bytes, portfolio

AS_OF = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = portfolio(40, seed=8)
    for row in rows[:15]:  # near-certain defaults: they default on every path
        row["PD"] = "0.95"
    path = tmp_path_factory.mktemp("tape") / "book.csv"
    path.write_bytes(csv_bytes(rows, [*portfolio(1)[0].keys(), "NOI", "PD"]))
    return path


@pytest.mark.parametrize(("paths", "estimator"), [(1, "is"), (2, "is"), (3, "is"), (4, "is"),
                                                  (10, "is"), (2, "plain")])  # fmt: skip
def test_loans_simulated_losses_sum_to_the_portfolio_expected_loss(
    tape: Path, tmp_path: Path, paths: int, estimator: str
) -> None:
    params = RunParams(paths=paths, seed=0, as_of=AS_OF, shocks_bp=(0, 300), estimator=estimator)
    run_simulation(tmp_path, params, tape=tape, report=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = pq.read_table(tmp_path / "loans.parquet").to_pydict()
    shock = np.array(rows["shock_bp"])
    loss = np.array(rows["sim_expected_loss"])
    freq = np.array(rows["sim_default_freq"])
    np.testing.assert_array_equal(loss, freq * np.array(rows["lgd"]) * np.array(rows["ead"]))
    for sc in summary["scenarios"]:
        mine = shock == sc["shock_bp"]
        # path losses are in whole cents: at most half a cent per loan apart
        assert abs(loss[mine].sum() - sc["expected_loss"]) <= 0.005 * mine.sum() + 1e-6
    if estimator == "plain":
        assert freq.max() <= 1.0
