"""Data quality: payment mismatches with a likely cause, rejects by reason, matured loans
listed, duplicate AccountIDs refused, runs with no loans refused, --strict everywhere."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit.batch import simulate_loans
from montemap.credit.generator import generate
from montemap.credit.loans import parse_records
from montemap.credit.params import RunParams
from montemap.credit.portfolio import local_destination
from montemap.credit.quality import (
    CAUSE_ANNUAL,
    CAUSE_FRACTION,
    CAUSE_INTEREST_ONLY,
    CAUSE_OTHER,
    DuplicateAccountError,
    check_unique_accounts,
    mismatch_causes,
    reason_group,
    rejects_by_reason,
)
from montemap.credit.sampling import path_design
from montemap.credit.simulate import SimulateError, run_simulation
from montemap.credit.tape import TapeError, import_tape
from tests.credit.helpers import csv_bytes, portfolio, record

AS_OF = dt.date(2026, 11, 27)
PARAMS = RunParams(paths=200, seed=3, as_of=AS_OF, shocks_bp=(0, 200))
HEADER = [*portfolio(1)[0].keys(), "NOI"]


def level_payment(amount: float, apr: float, months: int) -> float:
    """The annuity, written from the textbook formula (the test's own oracle)."""
    r = apr / 1200
    return amount * r / (1 - (1 + r) ** -months)


def consistent(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows with Payment set to their annuity (so none is a mismatch)."""
    for r in rows:
        pay = level_payment(float(r["LoanAmount"]), float(r["Rate"]), int(r["LoanTerm"]))
        r["Payment"] = f"{pay:.2f}"
    return rows


def write_tape(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_bytes(csv_bytes(rows, HEADER))
    return path


# --------------------------------------------------------------------------- units


def test_mismatch_causes_name_a_rate_given_as_a_fraction() -> None:
    amount = np.array([100_000.0, 100_000.0, 100_000.0, 100_000.0, 100_000.0])
    rate = np.array([6.5, 0.065, 6.5, 6.5, 6.5])
    term = np.array([120.0, 120.0, 120.0, 120.0, 120.0])
    right = level_payment(100_000, 6.5, 120)
    payment = np.array([right, right, 12 * right, 100_000 * 6.5 / 1200, 0.5 * right])
    mismatch, causes = mismatch_causes(payment, amount, rate, term)
    assert mismatch.tolist() == [False, True, True, True, True]
    assert causes.tolist() == [None, CAUSE_FRACTION, CAUSE_ANNUAL, CAUSE_INTEREST_ONLY, CAUSE_OTHER]


def test_rejects_group_by_reason_without_their_values() -> None:
    reasons = [
        "column 'LoanAmount': value -5 is negative",
        "column 'LoanAmount': value -70.5 is negative",
        "column 'Rate': 'six' is not a number",
        "empty object",
    ]
    assert reason_group(reasons[0]) == "column 'LoanAmount': value … is negative"
    assert rejects_by_reason(reasons) == {
        "column 'LoanAmount': value … is negative": 2,
        "column 'Rate': … is not a number": 1,
        "empty object": 1,
    }


def test_reject_groups_keep_the_column_they_name() -> None:
    """A tape without GrossIncome: the one-line reason says which column is missing
    (not ``missing column …``); so does an empty required field."""
    reasons = ["missing column 'GrossIncome'"] * 3 + ["column 'Rate' is empty"]
    assert rejects_by_reason(reasons) == {
        "missing column 'GrossIncome'": 3,
        "column 'Rate' is empty": 1,
    }
    assert reason_group("column 'Rate': 'column x' is not a number") == (
        "column 'Rate': … is not a number"
    )


def test_duplicate_accounts_are_listed() -> None:
    check_unique_accounts([1, 2, 3], ["a", "b", "c"])
    with pytest.raises(DuplicateAccountError, match=r"2 \(b and d\), 3 \(c and e\)"):
        check_unique_accounts([1, 2, 3, 2, 3], ["a", "b", "c", "d", "e"])


# --------------------------------------------------------------------------- simulate


def test_data_quality_in_summary_files_report_and_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = consistent(portfolio(60))
    rows[4]["Rate"] = "0.065"  # a fraction: runs as 0.065%, its Payment is the 6.5% annuity
    rows[4]["Payment"] = (
        f"{level_payment(float(rows[4]['LoanAmount']), 6.5, int(rows[4]['LoanTerm'])):.2f}"
    )
    rows[7] = record(AccountID="555", LoanAmount="-5")
    rows[8] = record(AccountID="556", LoanAmount="-9")
    rows[9] = record(AccountID="557", LoanTerm="24", OriginationDate="03/10/2019")  # matured
    rows[9]["Payment"] = f"{level_payment(100_000, 6.5, 24):.2f}"
    tape = write_tape(tmp_path / "tape.csv", rows)
    out = tmp_path / "out"
    code = main(
        ["simulate", "--loans", str(tape), "--out", str(out), "--paths", "200",
         "--as-of", AS_OF.isoformat(), "--workers", "1", "--shocks", "0,200"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["payment_mismatch"] == 1
    assert summary["payment_mismatch_causes"] == {CAUSE_FRACTION: 1}
    example = summary["payment_mismatch_examples"][0]
    assert example["key"] == "tape.csv#5"
    assert "0.065 → 6.5%?" in example["cause"]
    assert summary["rejects_by_reason"] == {"column 'LoanAmount': value … is negative": 2}
    with (out / "matured.csv").open() as f:
        matured = list(csv.DictReader(f))
    assert matured == [
        {
            "key": "tape.csv#10",
            "AccountID": "557",
            "OriginationDate": "2019-03-10",
            "LoanTerm": "24",
        }
    ]
    assert summary["matured"] == 1
    printed = capsys.readouterr().out
    assert "data quality:" in printed
    assert "rate looks like a fraction (0.065 → 6.5%?)" in printed
    assert "column 'LoanAmount': value … is negative" in printed
    assert "matured (left out): 1 (matured.csv)" in printed
    applied = next(line for line in printed.splitlines() if "defaults applied:" in line)
    assert "NOI" in applied and "CollateralValue" in applied
    html = (out / "report.html").read_text()
    assert "Data quality" in html and "rate looks like a fraction" in html
    assert "Rejects by reason" in html and "matured.csv" in html


def test_duplicate_account_ids_refused_on_a_tape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = portfolio(30)
    rows[12]["AccountID"] = rows[3]["AccountID"]
    rows[20]["AccountID"] = rows[5]["AccountID"]
    tape = write_tape(tmp_path / "dup.csv", rows)
    code = main(["simulate", "--loans", str(tape), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{rows[3]['AccountID']} (dup.csv#4 and dup.csv#13)" in err[0]
    assert f"{rows[5]['AccountID']} (dup.csv#6 and dup.csv#21)" in err[0]
    assert not (tmp_path / "o" / "summary.json").exists()


def test_duplicate_account_ids_refused_by_the_reduction(tmp_path: Path) -> None:
    """A data directory (the `run` path) whose objects repeat an AccountID: the reduction
    refuses instead of doubling the loan."""
    data = tmp_path / "data"
    generate(local_destination(data), 40, layout="realistic", seed=2, as_of=AS_OF)
    objects = sorted((data / "buckets" / "montemap-source" / "data").iterdir())
    first = next(csv.DictReader(objects[0].read_text().splitlines()))
    target = objects[9]
    row = next(csv.DictReader(target.read_text().splitlines()))
    row["AccountID"] = first["AccountID"]
    target.write_bytes(csv_bytes([row], list(row.keys())))
    with pytest.raises(DuplicateAccountError, match=first["AccountID"]):
        run_simulation(tmp_path / "out", PARAMS, data_dir=data, batch_size=7, report=False)


def test_no_accepted_loans_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [record(AccountID=str(i), Rate="x") for i in range(1, 6)]
    tape = write_tape(tmp_path / "bad.csv", rows)
    out = tmp_path / "out"
    code = main(["simulate", "--loans", str(tape), "--out", str(out), "--workers", "1"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "none of the 5 records could be simulated" in err[0]
    assert "column 'Rate': … is not a number, 5x" in err[0]
    assert "nan" not in err[0]
    assert not (out / "summary.json").exists() and not (out / "report.html").exists()
    assert len((out / "rejects.csv").read_text().splitlines()) == 6


def test_strict_refuses_what_would_be_rejected(tmp_path: Path) -> None:
    rows = portfolio(20)
    rows[6]["LoanAmount"] = "-250"
    tape = write_tape(tmp_path / "neg.csv", rows)
    with pytest.raises(SimulateError, match=r"--strict: neg.csv#7: .*LoanAmount.*negative"):
        run_simulation(tmp_path / "a", PARAMS, tape=tape, report=False, strict=True)
    done = run_simulation(tmp_path / "b", PARAMS, tape=tape, report=False)
    assert done.summary["rejected"] == 1


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("LoanAmount", "-5", "LoanAmount -5 is outside (0, 1e+12]"),
        ("LoanAmount", "0", "LoanAmount 0 is outside (0, 1e+12]"),
        ("Rate", "150", "Rate 150 is outside [0, 100]"),
        ("LoanTerm", "12.5", "LoanTerm 12.5 is outside [1, 1200] or not whole"),
        ("CreditScore", "900", "CreditScore 900 is outside [300, 850]"),
        ("GrossIncome", "-1", "GrossIncome -1 is outside [0, 1e+12]"),
        ("GrossIncome", "0", "GrossIncome must be positive for a personal loan"),
        ("AccountID", "1.5", "AccountID '1.5' is not a whole number"),
        ("AccountID", "abc", "AccountID 'abc' is not a number"),
    ],
)
def test_import_strict_applies_the_simulations_range_checks(
    tmp_path: Path, column: str, value: str, message: str
) -> None:
    rows = portfolio(5)
    rows[2]["LoanType"] = "personal"
    rows[2][column] = value
    tape = write_tape(tmp_path / "t.csv", rows)
    with pytest.raises(TapeError, match=re.escape(f"line 4: {message}")):
        import_tape(tape, local_destination(tmp_path / "d1"), as_of=AS_OF, strict=True)
    result = import_tape(tape, local_destination(tmp_path / "d2"), as_of=AS_OF)
    assert any(message in issue for issue in result.issues)
    assert len(result.issues) == 1, result.issues  # one warning for the one bad value
    # the simulation rejects the same row
    done = run_simulation(tmp_path / "o", PARAMS, tape=tape, report=False)
    assert done.summary["rejected"] == 1


def test_importance_sampled_default_se_is_the_weighted_one(tmp_path: Path) -> None:
    """One loan: its per-path default indicator is the portfolio's default count, so the
    weighted-variance SE can be recomputed here from the path weights."""
    rows = [record(AccountID="42", PD="0.02", LGD="0.4", Rho="0.2")]
    tape = tmp_path / "one.csv"
    tape.write_bytes(csv_bytes(consistent(rows)))
    params = RunParams(paths=4000, seed=9, as_of=AS_OF, shocks_bp=(0,))
    run_simulation(tmp_path / "o", params, tape=tape, report=False)
    row = pq.read_table(tmp_path / "o" / "loans.parquet").to_pylist()[0]
    # the loan's per-path default indicator: the batch's per-path default count
    loans, _ = parse_records([("one.csv#1", rows[0])], AS_OF)
    result = simulate_loans(loans, [], params, batch_id="x", objects=1)
    design = path_design(params.seed, params.paths, "is")
    d = result.path_defaults[0].astype(np.float64)
    w = design.weight
    s = params.paths
    f = float((w * d).sum() / s)
    expected = math.sqrt(max((w * w * d).sum() / s - f * f, 0.0) / s)
    assert row["sim_default_freq"] == pytest.approx(f, rel=1e-12)
    assert row["sim_default_se"] == pytest.approx(expected, rel=1e-9)
    binomial = math.sqrt(f * (1 - f) / s)
    assert abs(row["sim_default_se"] - binomial) > 0.05 * binomial


def test_workflow_reduce_with_no_accepted_loans_fails_and_keeps_the_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `run` path: the reduce function refuses, leaving rejects.csv to say why."""
    from montemap.credit.batch import handle_batch
    from montemap.credit.reduce import NoLoansError
    from montemap.storage import open_store
    from montemap.workflows.functions import reduce_and_report

    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(tmp_path))
    store = open_store(str(tmp_path))
    store.create_bucket("src")
    store.put("src", "a.csv", csv_bytes([record(Rate="x")]))
    store.put("src", "b.csv", b"")
    bi = {"output_bucket": "res", "output_prefix": "runs/r1", "paths": 16,
          "as_of": AS_OF.isoformat(), "shocks_bp": [0, 100], "estimator": "plain"}  # fmt: skip
    handle_batch({"Items": [{"Bucket": "src", "Key": "a.csv"}, {"Bucket": "src", "Key": "b.csv"}],
                  "BatchInput": bi}, None, store=store)  # fmt: skip
    event = {"results_bucket": "res", "run_name": "r1", "paths": 16, "as_of": AS_OF.isoformat(),
             "shocks_bp": [0, 100], "estimator": "plain"}  # fmt: skip
    with pytest.raises(NoLoansError, match="none of the 2 records could be simulated"):
        reduce_and_report(event)
    rejects = (tmp_path / "runs" / "r1" / "rejects.csv").read_text().splitlines()
    assert rejects[1:] == ["a.csv,column 'Rate': 'x' is not a number", "b.csv,empty object"]
    assert not (tmp_path / "runs" / "r1" / "summary.json").exists()
