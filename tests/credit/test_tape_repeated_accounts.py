"""``import`` refuses AccountIDs that are the same account written with leading zeros
(``1001`` and ``01001``): the simulation reads both as account 1001 and refuses the
portfolio (its loans would share random streams), so the import accepted a tape that
``simulate`` and ``run`` then refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.credit.portfolio import local_destination
from montemap.credit.tape import TapeError, import_tape

AS_OF = dt.date(2026, 11, 27)
HEADER = "AccountID,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome"
REST = "02134,6.5,1135.48,100000,120,06/15/2024,85000"


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["1001", "7", "01001"], r"AccountID '1001' \(line 2 and line 4\) appears more than once"),
        (["0", "00", "5"], r"AccountID '0' \(line 2 and line 3\) appears more than once"),
        (["0007", "007", "8"], r"AccountID '7' \(line 2 and line 3\)"),
    ],
)
def test_leading_zeros_do_not_make_another_account(
    tmp_path: Path, ids: list[str], message: str
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_text(HEADER + "\n" + "".join(f"{i},{REST}\n" for i in ids))
    with pytest.raises(TapeError, match=message):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)


def test_a_parquet_tape_of_strings_too(tmp_path: Path) -> None:
    columns = HEADER.split(",")
    values = REST.split(",")
    table = pa.table(
        {
            "AccountID": ["12", "012"],
            **{c: [v, v] for c, v in zip(columns[1:], values, strict=True)},
        }
    )
    tape = tmp_path / "tape.parquet"
    pq.write_table(table, tape)
    with pytest.raises(TapeError, match=r"AccountID '12' \(row 1 and row 2\)"):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)


def test_distinct_accounts_with_zeros_are_imported(tmp_path: Path) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_text(HEADER + "\n" + "".join(f"{i},{REST}\n" for i in ["010", "0100", "1", "x1"]))
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert result.write.loans == 4 and result.issue_count == 1  # x1: not a number
