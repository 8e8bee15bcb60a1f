"""A CSV tape line longer than the vectorised reader's 4 MB block (a 10 MB value) is read
row by row and refused in one line naming its line, where Arrow's "straddling object
straddles two block boundaries" was an internal error; a line the csv module refuses is
named by its own number (it was the next one's), and a tape whose lines end in a lone
carriage return (classic Mac) is refused saying so, not in the csv module's words."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.portfolio import local_destination
from montemap.credit.tape import TapeError, import_tape

AS_OF = dt.date(2026, 11, 27)
HEADER = "AccountID,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome"
ROW = "1001,02134,6.5,1135.48,100000,120,06/15/2024,85000"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([HEADER, ROW, ROW[:-5] + "1" * 10_000_000], "line 3: a field is longer than 131,072"),
        ([HEADER + ",Note", ROW + ",x", ROW + "," + "x" * 10_000_000], "line 3: a field is"),
        ([HEADER, ROW, ROW[:-5] + "1" * 1_200_000], "line 3: a field is longer than 131,072"),
    ],
)
def test_a_line_longer_than_a_block_is_one_line_naming_it(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_text("\n".join(lines) + "\n")
    with pytest.raises(TapeError, match=message):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)


def test_the_import_command_says_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_text(f"{HEADER}\n{ROW[:-5]}{'1' * 5_000_000}\n")
    assert main(["import", str(tape), "--data-dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 2: a field is longer than" in err
    assert "internal error" not in err


def test_classic_mac_line_ends_are_refused_saying_so(tmp_path: Path) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(f"{HEADER}\r{ROW}\r".encode())
    with pytest.raises(TapeError, match=r"a carriage return ends a line .*LF or CRLF"):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    tape.write_bytes(f"{HEADER}\n{ROW}\r{ROW}\n".encode())
    with pytest.raises(TapeError, match="line 2: a carriage return ends a line"):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)


def test_long_lines_below_the_limit_stay_on_the_vectorised_reader(tmp_path: Path) -> None:
    note = "n" * 100_000  # within the csv module's field limit too
    tape = tmp_path / "tape.csv"
    tape.write_text(f"{HEADER},Note\n{ROW},{note}\n" + f"{ROW.replace('1001', '1002')},x\n")
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert result.write.loans == 2 and result.ignored_columns == ["Note"]
