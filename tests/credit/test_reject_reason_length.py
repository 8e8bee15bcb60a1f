"""A reject reason quotes at most 40 characters of the value it refuses, then how long the
value is: a loan object may be up to 1 MB, and its one bad field was written whole into
``rejects.csv`` (a GrossIncome of 5,000 ones gave a 5,000-character reason). The
vectorised parser and the per-row parser still give the same reasons."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.bulk_parse import parse_objects
from montemap.credit.loans import MAX_QUOTED, parse_object
from montemap.credit.portfolio import local_destination
from montemap.credit.tape import TapeError, import_tape
from tests.credit.helpers import csv_bytes, record

AS_OF = dt.date(2026, 11, 27)
LONG = 5_000


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"GrossIncome": "1" * LONG}, "column 'GrossIncome': '" + "1" * 40 + "'... (5,000 "),
        ({"GrossIncome": "x" * LONG}, "column 'GrossIncome': '" + "x" * 40 + "'... (5,000 "),
        ({"Rate": "-0.5" + "0" * LONG}, "column 'Rate': value -0.5000"),
        ({"Payment": "-0.5" + "0" * LONG}, "column 'Payment': value -0.5000"),
        ({"Payment": "1" + "0" * 13 + "." + "0" * LONG}, "column 'Payment': value 1000"),
        ({"LoanTerm": "0" * LONG + "1300"}, "column 'LoanTerm': term 0000"),
        ({"LoanTerm": "1." + "5" * LONG}, "column 'LoanTerm': '1.5555"),
        ({"ZipCode": "9" * LONG}, "column 'ZipCode': '9999"),
        ({"AccountID": "7" * LONG}, "column 'AccountID': '7777"),
        ({"AccountID": "a" * LONG}, "column 'AccountID': 'aaaa"),
        ({"OriginationDate": "1" * LONG}, "column 'OriginationDate': '1111"),
        ({"LoanType": "p" * LONG}, "column 'LoanType': 'pppp"),
        ({"CreditScore": "9" + "0" * 38 + "." + "0" * LONG}, "column 'CreditScore': value 9000"),
    ],
)
def test_a_reason_quotes_a_short_prefix_of_a_long_value(
    fields: dict[str, str], reason: str
) -> None:
    body = csv_bytes([record(**fields)])
    _, rejects = parse_object("k.csv", body, AS_OF)
    assert len(rejects) == 1
    got = rejects[0].reason
    assert got.startswith(reason)
    assert " characters) " in got
    assert len(got) < MAX_QUOTED + 120
    # the vectorised parser gives the same reason, alone and beside plain objects
    plain = csv_bytes([record()])
    bulk = parse_objects(["a.csv", "k.csv", "b.csv"], [plain, body, plain], AS_OF)
    assert [(r.key, r.reason) for r in bulk.rejects] == [("k.csv", got)]


def test_a_value_up_to_the_limit_is_quoted_whole() -> None:
    value = "x" * MAX_QUOTED
    _, rejects = parse_object("k.csv", csv_bytes([record(GrossIncome=value)]), AS_OF)
    assert rejects[0].reason == f"column 'GrossIncome': {value!r} is not a number"


def test_rejects_csv_holds_the_short_reason(tmp_path: Path) -> None:
    tape = tmp_path / "book.csv"
    tape.write_bytes(csv_bytes([record(), record(AccountID="1002", GrossIncome="1" * LONG)]))
    out = tmp_path / "out"
    argv = ["simulate", "--loans", str(tape), "--out", str(out), "--paths", "10",
            "--workers", "1", "--as-of", AS_OF.isoformat(), "--no-report"]  # fmt: skip
    assert main(argv) == 0
    rows = list(csv.reader(io.StringIO((out / "rejects.csv").read_text())))
    assert rows[0] == ["key", "reason"] and len(rows) == 2
    assert rows[1][1] == (
        "column 'GrossIncome': '" + "1" * MAX_QUOTED + "'... (5,000 characters) is out of range"
    )


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"GrossIncome": "x" * LONG}, "GrossIncome '" + "x" * 40 + "'... (5,000 characters)"),
        ({"Rate": "-0.5" + "0" * LONG}, "Rate -0.5" + "0" * 36 + "... (5,004 characters)"),
        ({"AccountID": "1.5" * LONG}, "AccountID '1.51.5"),
        ({"OriginationDate": "02/30/" + "2" * LONG}, "OriginationDate '02/30/2222"),
    ],
)
def test_imports_problems_quote_a_short_prefix_too(
    tmp_path: Path, fields: dict[str, str], says: str
) -> None:
    tape = tmp_path / "book.csv"
    tape.write_bytes(csv_bytes([record(**fields)]))
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert len(result.issues) == 1 and says in result.issues[0]
    assert len(result.issues[0]) < 150
    with pytest.raises(TapeError) as refused:
        import_tape(tape, local_destination(tmp_path / "s"), as_of=AS_OF, strict=True)
    assert says in str(refused.value) and len(str(refused.value)) < 250
