"""``simulate --loans`` reads a CSV tape's lines as ``import`` does: LF or CRLF line ends,
and a lone carriage return (classic Mac line ends) refused saying so, naming its line
(``simulate`` read such a tape as lines, where ``import`` refused it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.portfolio import local_destination
from montemap.credit.simulate import SimulateError, read_tape
from montemap.credit.tape import TapeError, import_tape

HEADER = "AccountID,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome"
ROW = "1001,02134,6.5,1135.48,100000,120,06/15/2024,85000"
ROW2 = ROW.replace("1001", "1002", 1)
SAYS = "a carriage return ends a line (classic Mac line ends): save the tape with LF or CRLF"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{HEADER}\r{ROW}\r", 1),
        (f"{HEADER}\n{ROW}\r{ROW2}\n", 2),
        (f"{HEADER}\r\n{ROW}\r\n{ROW2}\r{ROW2.replace('1002', '1003')}\r\n", 3),
    ],
)
def test_simulate_and_import_refuse_classic_mac_line_ends(
    tmp_path: Path, text: str, line: int
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(text.encode())
    where = "cannot read the header row" if line == 1 else f"line {line}"  # as import says
    with pytest.raises(SimulateError, match=re.escape(f"loan tape tape.csv: {where}: {SAYS}")):
        read_tape(tape)
    with pytest.raises(TapeError, match=re.escape(SAYS)):
        import_tape(tape, local_destination(tmp_path / "d"))


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_lf_and_crlf_tapes_are_read(tmp_path: Path, end: str) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(end.join([HEADER, ROW, ROW2, f"{ROW.replace('1001', '1003', 1)}"]).encode())
    assert [key for key, _ in read_tape(tape)] == ["tape.csv#1", "tape.csv#2", "tape.csv#3"]


def test_a_carriage_return_inside_quotes_is_part_of_the_value(tmp_path: Path) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(f'{HEADER},Note\n{ROW},"a\rb"\n'.encode())
    assert read_tape(tape)[0][1]["Note"] == "a\rb"


def test_the_command_says_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(f"{HEADER}\n{ROW}\r{ROW2}\r".encode())
    out = tmp_path / "out"
    assert main(["simulate", "--loans", str(tape), "--out", str(out), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert err == f"montemap: error: loan tape tape.csv: line 2: {SAYS} line ends\n"
