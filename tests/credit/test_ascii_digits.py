"""Numbers, dates and ZIP codes in loan objects and tapes are ASCII digits, as the loan
format says: a value in the digits of another script (Arabic-Indic ``١٢٣``, fullwidth
``１２３``, a superscript ``²``) is a reject naming its column, in the per-row parser and
the vectorised batch parser alike. Python's ``\\d``, ``int`` and ``float`` take such
digits, so they were read as numbers (GrossIncome ``١٢٣`` was 123); a superscript or
a 5,000-digit AccountID raised ValueError and failed the whole batch."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from montemap.credit.batch import handle_batch
from montemap.credit.bulk_parse import parse_objects
from montemap.credit.loans import parse_object
from montemap.credit.params import RunParams
from montemap.credit.portfolio import SOURCE_BUCKET
from montemap.credit.simulate import run_simulation
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio, record

AS_OF = dt.date(2026, 11, 27)
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

#: (column, value): each makes a record a reject whose reason names the column.
OTHER_DIGITS = [
    ("GrossIncome", "١٢٣"),
    ("GrossIncome", "１２３"),
    ("Rate", "٦.٥"),
    ("LoanAmount", "1e٥"),
    ("LoanTerm", "１２０"),
    ("Payment", "1135.4٨"),
    ("CreditScore", "٧٠٠"),
    ("PD", "0.0٢"),
    ("AccountID", "١٠٠١"),
    ("AccountID", "²"),
    ("AccountID", "1²"),
    ("ZipCode", "０２１３４"),
    ("ZipCode", "02134-١٢٣٤"),
    ("OriginationDate", "06/15/２０２４"),
    ("OriginationDate", "٢٠٢٤-06-15"),
]


@pytest.mark.parametrize(("column", "value"), OTHER_DIGITS)
def test_other_digits_are_a_reject_naming_the_column(column: str, value: str) -> None:
    data = csv_bytes([record(**{column: value})], [*record().keys(), "CreditScore", "PD"])
    loans, rejects = parse_object("k.csv", data, AS_OF)
    assert loans == []
    assert [r.reason.startswith(f"column '{column}': ") for r in rejects] == [True]
    assert rejects[0].reason.endswith("(digits must be ASCII 0-9)")
    # the batch parser gives the same reject
    parsed = parse_objects(["k.csv"], [data], AS_OF)
    assert [(r.key, r.reason) for r in parsed.rejects] == [(r.key, r.reason) for r in rejects]


def test_a_huge_account_id_is_a_reject_not_a_failed_batch() -> None:
    for account in ("1" * 5000, "0" * 5000 + "7"):
        data = csv_bytes([record(AccountID=account)])
        loans, rejects = parse_object("k.csv", data, AS_OF)
        if account.startswith("0"):
            assert [loan.account_id for loan in loans] == [7] and rejects == []
        else:
            assert loans == [] and "not an integer from 0 to 2**63-1" in rejects[0].reason


def test_bulk_and_per_row_agree_on_a_batch_mixing_other_digits() -> None:
    good = portfolio(40)
    bodies: list[bytes] = []
    for i, rec in enumerate(good):
        if i % 5 == 2:  # every fifth loan has one of its numbers in other digits
            column = ["GrossIncome", "LoanAmount", "AccountID", "LoanTerm"][i % 4]
            table = ARABIC if i % 2 else FULLWIDTH
            rec = {**rec, column: rec[column].translate(table)}
        bodies.append(csv_bytes([rec], list(good[0].keys())))
    keys = [f"data/{i:03d}.csv" for i in range(len(bodies))]
    parsed = parse_objects(keys, list(bodies), AS_OF)
    want_loans, want_rejects = [], []
    for key, body in zip(keys, bodies, strict=True):
        loans, rejects = parse_object(key, body, AS_OF)
        want_loans += loans
        want_rejects += rejects
    assert [(r.key, r.reason) for r in parsed.rejects] == [(r.key, r.reason) for r in want_rejects]
    assert len(parsed.rejects) == 8
    assert parsed.arrays.account_id.tolist() == [loan.account_id for loan in want_loans]
    assert parsed.arrays.income.tolist() == [loan.income for loan in want_loans]


def test_a_worker_batch_lists_them_in_its_rejects(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket(SOURCE_BUCKET)
    store.create_bucket("out")
    rows = {
        "a.csv": record(AccountID="1"),
        "b.csv": record(AccountID="2", GrossIncome="٨٥٠٠٠"),
        "c.csv": record(AccountID="²"),
    }
    for key, rec in rows.items():
        store.put(SOURCE_BUCKET, key, csv_bytes([rec]))
    params = {"output_bucket": "out", "paths": 10, "as_of": AS_OF.isoformat()}
    items = [{"Bucket": SOURCE_BUCKET, "Key": k} for k in rows]
    out = handle_batch({"Items": items, "BatchInput": params}, None, store=store)
    doc = json.loads(store.get("out", f"batches/{out['batch_id']}/batch.json"))
    reasons = {r["key"]: r["reason"] for r in doc["rejects"]}
    assert set(reasons) == {"b.csv", "c.csv"}
    assert reasons["b.csv"].startswith("column 'GrossIncome': '٨٥٠٠٠' is not a number")
    assert reasons["c.csv"].startswith("column 'AccountID': '²'")


def test_a_tape_row_in_other_digits_is_in_rejects_csv(tmp_path: Path) -> None:
    rows = portfolio(6)
    rows[3] = {**rows[3], "GrossIncome": rows[3]["GrossIncome"].translate(ARABIC)}
    tape = tmp_path / "book.csv"
    tape.write_bytes(csv_bytes(rows, list(rows[0].keys())))
    params = RunParams(paths=10, seed=0, as_of=AS_OF, shocks_bp=(0, 100))
    out = run_simulation(tmp_path / "out", params, tape=tape, report=False)
    assert out.summary["loans"] == 5 and out.summary["rejected"] == 1
    with open(tmp_path / "out" / "rejects.csv", newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))[1:]
    assert [key for key, _ in got] == ["book.csv#4"]
    assert got[0][1].startswith("column 'GrossIncome': ") and "ASCII" in got[0][1]
