"""A tape's value problems come in line order: ``import --strict`` names the first line
with a problem, and the warnings list the earliest lines, whichever columns they are in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit.portfolio import local_destination
from montemap.credit.tape import TapeError, import_tape
from tests.credit.helpers import csv_bytes, portfolio

AS_OF = dt.date(2026, 11, 27)


def _rows_with_late_column_first() -> list[dict[str, str]]:
    """Line 3 has a bad GrossIncome (a late column), line 6 a bad AccountID (the first)."""
    rows = portfolio(8)
    rows[1]["LoanType"] = "personal"
    rows[1]["GrossIncome"] = "lots"
    rows[4]["AccountID"] = "abc"
    return rows


def test_strict_names_the_first_line_with_a_problem(tmp_path: Path) -> None:
    tape = tmp_path / "t.csv"
    tape.write_bytes(csv_bytes(_rows_with_late_column_first()))
    with pytest.raises(TapeError, match=r"t\.csv: line 3: GrossIncome 'lots' is not a number"):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF, strict=True)


def test_strict_on_a_parquet_tape_names_the_first_row(tmp_path: Path) -> None:
    tape = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(_rows_with_late_column_first()), tape)
    with pytest.raises(TapeError, match=r"row 2: GrossIncome 'lots' is not a number"):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF, strict=True)


def test_warnings_list_problems_in_line_order(tmp_path: Path) -> None:
    rows = portfolio(12)
    rows[9]["AccountID"] = "x9"
    rows[2]["Rate"] = "150"
    rows[5]["OriginationDate"] = "02/30/2020"
    rows[0]["ZipCode"] = "ABCDE"
    tape = tmp_path / "t.csv"
    tape.write_bytes(csv_bytes(rows))
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    lines = [issue.split(":")[0] for issue in result.issues]
    assert lines == ["line 2", "line 4", "line 7", "line 11"], result.issues
    assert result.issue_count == 4


def test_only_the_first_problems_are_kept_but_all_are_counted(tmp_path: Path) -> None:
    rows = portfolio(30)
    for row in rows:
        row["Rate"] = "-1"
        row["LoanAmount"] = "0"
    tape = tmp_path / "t.csv"
    tape.write_bytes(csv_bytes(rows))
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF, chunk_rows=7)
    assert result.issue_count == 60
    assert len(result.issues) == 20
    assert [issue.split(":")[0] for issue in result.issues[:4]] == [
        "line 2",
        "line 2",
        "line 3",
        "line 3",
    ]


def test_the_import_command_reports_the_first_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = tmp_path / "t.csv"
    tape.write_bytes(csv_bytes(_rows_with_late_column_first()))
    code = main(["import", str(tape), "--data-dir", str(tmp_path / "d"), "--strict", "--quiet"])
    assert code == 1
    assert "line 3: GrossIncome" in capsys.readouterr().err


def test_strict_names_a_bad_value_above_a_broken_line_first(tmp_path: Path) -> None:
    rows = portfolio(6)
    rows[1]["Rate"] = "abc"
    text = csv_bytes(rows).decode() + "99,1,2\n"  # line 8: too few fields
    tape = tmp_path / "t.csv"
    tape.write_text(text)
    with pytest.raises(TapeError, match=r"line 3: Rate 'abc' is not a number"):
        import_tape(tape, local_destination(tmp_path / "d1"), as_of=AS_OF, strict=True)
    with pytest.raises(TapeError, match=r"line 8: 3 fields, but the header has"):
        import_tape(tape, local_destination(tmp_path / "d2"), as_of=AS_OF)


def test_a_broken_line_above_a_bad_value_is_named_first(tmp_path: Path) -> None:
    rows = portfolio(6)
    rows[4]["Rate"] = "abc"
    lines = csv_bytes(rows).decode().splitlines(keepends=True)
    lines.insert(2, "99,1,2\n")  # line 3: too few fields; the bad Rate is on line 7
    tape = tmp_path / "t.csv"
    tape.write_text("".join(lines))
    with pytest.raises(TapeError, match=r"line 3: 3 fields, but the header has"):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF, strict=True)
