"""``simulate --loans`` reads the tapes ``import`` reads, with import's own reader.

A gzip-compressed CSV tape (``tape.csv.gz``, which ``import`` takes) was refused as
"is not UTF-8 CSV text", and a Parquet tape was told by its name's suffix only (``import``
also knows it by its magic). Both now open a tape as ``import`` does
(:func:`montemap.credit.tape.csv_lines`, :func:`~montemap.credit.tape.is_parquet`), and
say the same problem the same way.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit.portfolio import local_destination
from montemap.credit.simulate import SimulateError, read_tape
from montemap.credit.tape import TapeError, import_tape

HEADER = "AccountID,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome"
ROWS = [f"{1001 + i},02134,6.5,1135.48,100000,120,06/15/2024,85000" for i in range(4)]
TEXT = "\n".join([HEADER, *ROWS]) + "\n"


def test_a_gzip_tape_is_read_as_its_plain_csv(tmp_path: Path) -> None:
    plain, packed = tmp_path / "tape.csv", tmp_path / "tape.csv.gz"
    plain.write_text(TEXT)
    packed.write_bytes(gzip.compress(b"\xef\xbb\xbf" + TEXT.encode()))  # a BOM too
    got = read_tape(packed)
    assert [fields for _, fields in got] == [fields for _, fields in read_tape(plain)]
    assert [key for key, _ in got] == [f"tape.csv.gz#{i}" for i in range(1, 5)]


def test_simulate_runs_a_gzip_tape(tmp_path: Path) -> None:
    tape = tmp_path / "tape.csv.gz"
    tape.write_bytes(gzip.compress(TEXT.encode()))
    out = tmp_path / "out"
    argv = ["simulate", "--loans", str(tape), "--out", str(out), "--workers", "1"]
    assert main([*argv, "--paths", "10", "--as-of", "2026-01-01", "--no-report"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loans"] == 4 and summary["rejected"] == 0


def test_a_parquet_tape_is_known_by_its_magic(tmp_path: Path) -> None:
    tape = tmp_path / "tape.dat"
    columns = HEADER.split(",")
    rows = [row.split(",") for row in ROWS]
    pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}), tape)
    assert [key for key, _ in read_tape(tape)] == [f"tape.dat#{i}" for i in range(1, 5)]


#: Tapes that cannot be read: name, bytes, what both commands say.
BROKEN = [
    ("bad.csv.gz", gzip.compress(TEXT.encode() + b"1,2,\xff\n"), "line 6: not UTF-8 text"),
    ("bad.csv", TEXT.encode() + b"1,2,\xff\n", "line 6: not UTF-8 text"),
    ("cut.csv.gz", gzip.compress(TEXT.encode() * 50)[:-12], "Compressed file ended"),
    ("empty.csv", b"", "the file is empty (no header row)"),
    ("empty.csv.gz", gzip.compress(b""), "the file is empty (no header row)"),
    ("blank.csv", b"\xef\xbb\xbf\n\n", "the file is empty (no header row)"),
]


@pytest.mark.parametrize(("name", "body", "says"), BROKEN, ids=[case[0] for case in BROKEN])
def test_a_broken_tape_is_refused_as_import_refuses_it(
    tmp_path: Path, name: str, body: bytes, says: str
) -> None:
    tape = tmp_path / name
    tape.write_bytes(body)
    with pytest.raises(TapeError) as imported:
        import_tape(tape, local_destination(tmp_path / "d"))
    with pytest.raises(SimulateError) as simulated:
        read_tape(tape)
    assert says in str(imported.value)
    detail = str(imported.value).removeprefix(f"{tape}: ")
    assert str(simulated.value) == f"loan tape {name}: {detail}"
