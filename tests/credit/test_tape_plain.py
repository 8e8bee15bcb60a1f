"""Plain CSV tapes go through the vectorised reader, others row by row: both give the same
objects, inventory, value issues (with the same line numbers, in the same order) and
errors."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from montemap.credit.portfolio import SOURCE_BUCKET, local_destination
from montemap.credit.tape import TapeError, _CsvTape, import_tape

AS_OF = dt.date(2026, 11, 27)
HEADER = "AccountID,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome,LoanType"
ROWS = [
    "1,2134,6.5,100,1000,12,01/01/2025,50000,personal",
    "2,12345,six,100,1000,12,2024-03-05,50000,",
    "3, 12345 ,7,100,-5,12.5,Jan 5,,commercial",
    "4,99999,1e999,100,1000,1201,02/30/2021,0,PERSONAL",
    "5,,,,,,,,",
    "6,00501,3,1,2,3,12/31/2026,4,commercial",
]


def _objects(data_dir: Path) -> dict[str, bytes]:
    root = data_dir / "buckets" / SOURCE_BUCKET
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _import(tmp_path: Path, name: str, body: bytes, chunk_rows: int) -> tuple[bool, object, dict]:
    tape = tmp_path / name
    tape.write_bytes(body)
    plain = _CsvTape(tape, chunk_rows)
    plain_flag = plain._is_plain()
    dest = tmp_path / f"out-{name}"
    result = import_tape(tape, local_destination(dest), as_of=AS_OF, chunk_rows=chunk_rows)
    return plain_flag, (result.issues, result.issue_count, result.write.loans), _objects(dest)


@pytest.mark.parametrize("chunk_rows", [2, 4, 100])
def test_plain_and_row_by_row_tapes_give_the_same_import(tmp_path: Path, chunk_rows: int) -> None:
    rows = [f"{k}{row}" for k in range(1, 4) for row in ROWS]  # AccountIDs 11 .. 36
    body = (HEADER + "\n" + "\n".join(rows) + "\n").encode()
    fast = _import(tmp_path, "plain.csv", body, chunk_rows)
    # a quoted field (same value) sends the same tape row by row
    slow = _import(tmp_path, "quoted.csv", body.replace(b"\n11,2134,", b'\n"11",2134,'), chunk_rows)
    gz = _import(tmp_path, "plain.csv.gz", gzip.compress(body), chunk_rows)
    bom = _import(tmp_path, "bom.csv", b"\xef\xbb\xbf" + body.rstrip(b"\n"), chunk_rows)
    assert (fast[0], slow[0], gz[0], bom[0]) == (True, False, True, True)
    assert fast[1] == slow[1] == gz[1] == bom[1]
    assert fast[2] == slow[2] == gz[2] == bom[2]
    issues = fast[1][0]  # type: ignore[index]
    assert "line 3: Rate 'six' is not a number" in issues


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"7,1,2\n", "line 5: 3 fields, but the header has 9"),
        (b"\n\n7,1,2\n", "line 7: 3 fields, but the header has 9"),
        (b"7,1,2,3,4,5,6,7,\xff\n", "line 5: not UTF-8"),
        (b"1,2,3,4,5,6,01/01/2020,8,\n", "AccountID '1' \\(line 2 and line 5\\)"),
    ],
)
def test_tapes_that_are_not_plain_keep_their_errors(
    tmp_path: Path, tail: bytes, message: str
) -> None:
    tape = tmp_path / "t.csv"
    tape.write_bytes((HEADER + "\n" + "\n".join(ROWS[:3]) + "\n").encode() + tail)
    with pytest.raises(TapeError, match=message):
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
