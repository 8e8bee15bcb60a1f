"""Parsing and validating loan objects; every kind of malformed object is rejected."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from montemap.credit.loans import (
    MAX_OBJECT_BYTES,
    LoanArrays,
    defaults_applied,
    overrides_used,
    parse_object,
    parse_records,
)
from tests.credit.helpers import BASE, csv_bytes, record
from tests.credit.malformed import MALFORMED

#: The analysis date the malformed objects' reasons assume (one is dated after it).
AS_OF = dt.date(2026, 11, 27)


def test_valid_object_with_defaults() -> None:
    loans, rejects = parse_object("data/a.csv", csv_bytes([record()]))
    assert rejects == []
    (loan,) = loans
    assert loan.key == "data/a.csv"
    assert loan.account_id == 1001 and loan.zip_code == "02134"
    assert loan.origination == dt.date(2024, 6, 15)
    assert not loan.commercial and not loan.fixed  # personal, variable
    assert loan.credit_score == 680 and loan.collateral == 0 and loan.other_debt == 0
    assert math.isnan(loan.noi) and math.isnan(loan.pd)
    assert defaults_applied(loans) == dict.fromkeys(
        ["LoanType", "RateType", "CreditScore", "NOI", "CollateralValue", "OtherMonthlyDebt"], 1
    )


def test_optional_columns_and_overrides() -> None:
    rec = record(
        LoanType="Commercial",
        RateType="FIXED",
        CreditScore="720",
        NOI="120000",
        CollateralValue="50000",
        OtherMonthlyDebt="250",
        PD="0.05",
        LGD="0.3",
        Rho="0.1",
    )
    (loan,), rejects = parse_object("k", csv_bytes([rec]))
    assert not rejects
    assert loan.commercial and loan.fixed and loan.credit_score == 720 and loan.noi == 120000
    assert (loan.pd, loan.lgd, loan.rho) == (0.05, 0.3, 0.1)
    assert defaults_applied([loan])["NOI"] == 0
    assert overrides_used([loan]) == {"PD": 1, "LGD": 1, "Rho": 1}


def test_header_names_are_case_insensitive_and_zip_is_padded() -> None:
    rec = {k.lower(): v for k, v in record(ZipCode="2134").items()}
    (loan,), _ = parse_object("k", csv_bytes([rec]))
    assert loan.zip_code == "02134"
    (loan,), _ = parse_object("k", csv_bytes([record(ZipCode="02134-1234")]))
    assert loan.zip_code == "02134"
    (loan,), _ = parse_object(
        "k", b"\xef\xbb\xbf" + csv_bytes([record(OriginationDate="2024-06-15")])
    )
    assert loan.origination == dt.date(2024, 6, 15)


def _reason(data: bytes, as_of: dt.date | None = None) -> str:
    loans, rejects = parse_object("data/bad.csv", data, as_of)
    assert loans == []
    (reject,) = rejects
    assert reject.key == "data/bad.csv"
    return reject.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    MALFORMED,
    ids=[f"{i}-{reason[:40]}" for i, (_, reason) in enumerate(MALFORMED)],
)
def test_malformed_objects_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    """The shared malformed objects (the batch parser is held to the same reasons)."""
    assert _reason(data, AS_OF) == reason


def test_object_of_exactly_one_megabyte_is_not_rejected_for_size() -> None:
    data = csv_bytes([record()])
    padded = data + b"\n" * (MAX_OBJECT_BYTES - len(data))
    loans, rejects = parse_object("k", padded)
    assert len(loans) == 1 and not rejects


def test_several_rows_reject_only_the_bad_one() -> None:
    data = csv_bytes(
        [record(AccountID="1"), record(AccountID="2", Rate="x"), record(AccountID="3")]
    )
    loans, rejects = parse_object("multi.csv", data)
    assert [ln.key for ln in loans] == ["multi.csv#1", "multi.csv#3"]
    assert [(r.key, r.reason) for r in rejects] == [
        ("multi.csv#2", "column 'Rate': 'x' is not a number")
    ]


def test_parse_records_and_columns() -> None:
    loans, rejects = parse_records(
        [("a", record()), ("b", record(LoanTerm="-1")), ("c", dict(BASE))]
    )
    assert [r.key for r in rejects] == ["b"]
    arrays = LoanArrays.from_loans(loans)
    assert len(arrays) == 2
    assert arrays.term.tolist() == [120, 120]
    assert arrays.orig_year.tolist() == [2024, 2024]
    sub = arrays.take(__import__("numpy").array([1]))
    assert sub.keys.tolist() == ["c"]
    assert len(LoanArrays.from_loans([])) == 0
