"""Loan-tape import: CSV and Parquet tapes into the layout; bad tapes get clear errors."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit.generator import REALISTIC_COLUMNS, generate, generate_rows
from montemap.credit.portfolio import SOURCE_BUCKET, local_destination
from montemap.credit.tape import TapeError, import_tape

AS_OF = dt.date(2026, 11, 27)
HEADER = "AccountID,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome"


def bucket(data_dir: Path) -> Path:
    return data_dir / "buckets" / SOURCE_BUCKET


def loan(data_dir: Path, number: int, width: int = 6) -> dict[str, str]:
    text = (bucket(data_dir) / f"data/data-gen-{number:0{width}d}.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2
    return dict(zip(rows[0], rows[1], strict=True))


def inventory_keys(data_dir: Path) -> list[str]:
    root = bucket(data_dir)
    manifest = json.loads((root / "inventory/manifest.json").read_text())
    keys: list[str] = []
    for f in manifest["files"]:
        text = gzip.decompress((root / f["key"]).read_bytes()).decode()
        keys.extend(row[1] for row in csv.reader(io.StringIO(text)))
    return keys


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_tape(tmp_path: Path) -> None:
    tape = write(
        tmp_path / "tape.csv",
        " accountid ,ZipCode,Rate,Payment,LoanAmount,LoanTerm,OriginationDate,GrossIncome,"
        "Branch,LoanType,PD\n"
        "17,501,6.25,583.92,100000,360,2020-01-31,90000,North,personal,0.02\n"
        "\n"
        '18,02139,7.5,1000.00,50000,60,03/15/2021,120000,"South, East","commercial",\n',
    )
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert result.format == "CSV"
    assert result.write.loans == 2
    assert result.ignored_columns == ["Branch"]
    assert result.issue_count == 0
    assert result.write.columns == [
        "AccountID",
        "ZipCode",
        "Rate",
        "Payment",
        "LoanAmount",
        "LoanTerm",
        "OriginationDate",
        "GrossIncome",
        "LoanType",
        "PD",
    ]
    first = loan(tmp_path / "d", 1)
    assert first["AccountID"] == "17"
    assert first["ZipCode"] == "00501"  # leading zeros restored
    assert first["OriginationDate"] == "01/31/2020"  # ISO date in the contract's format
    assert first["PD"] == "0.02"
    second = loan(tmp_path / "d", 2)
    assert second["LoanType"] == "commercial" and second["PD"] == ""
    assert inventory_keys(tmp_path / "d") == [
        "data/data-gen-000001.csv",
        "data/data-gen-000002.csv",
    ]


def test_a_tape_of_generated_rows_gives_the_generated_portfolio(tmp_path: Path) -> None:
    rows = generate_rows("realistic", 8, 0, 120, AS_OF)
    tape = write(tmp_path / "tape.csv", ",".join(REALISTIC_COLUMNS) + "\n")
    with tape.open("a") as f:
        f.write("\n".join(rows.to_pylist()) + "\n")
    import_tape(tape, local_destination(tmp_path / "imported"), as_of=AS_OF)
    generate(local_destination(tmp_path / "generated"), 120, seed=8, as_of=AS_OF)
    for sub in ("data", "inventory"):
        imported = bucket(tmp_path / "imported") / sub
        generated = bucket(tmp_path / "generated") / sub
        names = sorted(p.name for p in imported.iterdir())
        assert names == sorted(p.name for p in generated.iterdir())
        for name in names:
            assert (imported / name).read_bytes() == (generated / name).read_bytes(), name


def test_gzip_csv_tape(tmp_path: Path) -> None:
    tape = tmp_path / "tape.csv.gz"
    tape.write_bytes(
        gzip.compress(f"{HEADER}\n5,12345,5,9435.62,500000,60,01/01/2025,1\n".encode())
    )
    import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert loan(tmp_path / "d", 1)["Payment"] == "9435.62"


def test_parquet_tape_with_typed_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "AccountID": pa.array([1, 2], pa.int64()),
            "ZipCode": pa.array(["00501", "94105"]),
            "Rate": pa.array([6.25, 7.0]),
            "Payment": pa.array([583.92, 1000.5]),
            "LoanAmount": pa.array([100000.0, 2500000.0]),
            "LoanTerm": pa.array([360, 60], pa.int32()),
            "OriginationDate": pa.array([dt.date(2020, 1, 31), dt.date(2021, 12, 1)]),
            "GrossIncome": pa.array([90000, None], pa.int64()),
            "RateType": pa.array(["fixed", "variable"]).dictionary_encode(),
        }
    )
    tape = tmp_path / "tape.parquet"
    pq.write_table(table, tape)
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert result.format == "Parquet"
    assert result.issues == ["row 2: GrossIncome is empty"]
    first, second = loan(tmp_path / "d", 1), loan(tmp_path / "d", 2)
    assert first == {
        "AccountID": "1",
        "ZipCode": "00501",
        "Rate": "6.25",
        "Payment": "583.92",
        "LoanAmount": "100000",
        "LoanTerm": "360",
        "OriginationDate": "01/31/2020",
        "GrossIncome": "90000",
        "RateType": "fixed",
    }
    assert second["LoanAmount"] == "2500000" and second["GrossIncome"] == ""
    assert second["OriginationDate"] == "12/01/2021" and second["RateType"] == "variable"


def test_value_problems_are_reported_or_fatal_when_strict(tmp_path: Path) -> None:
    tape = write(
        tmp_path / "tape.csv",
        f"{HEADER}\n1,12345,six,100,1000,12,01/01/2025,50000\n2,12345,6,100,1000,12,Jan 5,\n",
    )
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert result.write.loans == 2  # written as they are: the simulation rejects them
    assert sorted(result.issues) == [
        "line 2: Rate 'six' is not a number",
        "line 3: GrossIncome is empty",
        "line 3: OriginationDate 'Jan 5' is not a date (MM/DD/YYYY)",
    ]
    with pytest.raises(TapeError, match="line 2: Rate 'six' is not a number"):
        import_tape(tape, local_destination(tmp_path / "strict"), as_of=AS_OF, strict=True)
    assert not (bucket(tmp_path / "strict") / "data").exists()


def test_zip_codes_and_choices_the_simulation_rejects_are_reported(tmp_path: Path) -> None:
    """The same rules as the loan parser's: 1-5 digits or ZIP+4, LoanType and RateType
    one of their options (any case; empty takes the default)."""
    tape = write(
        tmp_path / "tape.csv",
        f"{HEADER},LoanType,RateType\n"
        "1,12345,5,100,1000,12,01/01/2020,50000,Commercial,\n"
        "2,123456,5,100,1000,12,01/01/2020,50000,,FIXED\n"
        "3,1\x00234,5,100,1000,12,01/01/2020,50000,car,x\n"
        "4,123,5,100,1000,12,01/01/2020,50000,personal,fixed\n"
        "5,12345-6789,5,100,1000,12,01/01/2020,50000,personal,variable\n",
    )
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert result.write.loans == 5
    assert sorted(result.issues) == [
        "line 3: ZipCode '123456' is not a 5-digit ZIP code",
        "line 4: LoanType 'car' is not one of personal, commercial",
        "line 4: RateType 'x' is not one of variable, fixed",
        "line 4: ZipCode '1\\x00234' is not a 5-digit ZIP code",
    ]
    with pytest.raises(TapeError, match="line 3: ZipCode '123456' is not a 5-digit ZIP code"):
        import_tape(tape, local_destination(tmp_path / "strict"), as_of=AS_OF, strict=True)


def test_dates_no_calendar_has_are_reported(tmp_path: Path) -> None:
    rows = ["02/30/2020", "02/29/2024", "2020-13-01", "02/29/1900", "1/5/0000", "2000-02-29"]
    tape = write(
        tmp_path / "tape.csv",
        f"{HEADER}\n"
        + "".join(f"{n},12345,5,100,1000,12,{d},50000\n" for n, d in enumerate(rows, 1)),
    )
    result = import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert sorted(result.issues) == [
        "line 2: OriginationDate '02/30/2020' is not a valid date",
        "line 4: OriginationDate '13/01/2020' is not a valid date",
        "line 5: OriginationDate '02/29/1900' is not a valid date",
        "line 6: OriginationDate '1/5/0000' is not a valid date",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (
            b"AccountID,ZipCode,Rate,Payment,LoanTerm,OriginationDate\n1,2,3,4,5,6\n",
            "missing required columns LoanAmount, GrossIncome",
        ),
        (f"{HEADER},Rate\n".encode(), "column 'Rate' appears twice"),
        (f"{HEADER}\n".encode(), "no loans"),
        (
            f"{HEADER}\n1,2,3,4,5,6,01/01/2020,8\n2,2,3\n".encode(),
            "line 3: 3 fields, but the header has 8",
        ),
        (
            f"{HEADER}\n7,2,3,4,5,6,01/01/2020,8\n8,2,3,4,5,6,01/01/2020,8\n7,2,3,4,5,6,01/01/2020,8\n".encode(),
            "AccountID '7' \\(line 2 and line 4\\) appears more than once",
        ),
        (
            f"{HEADER}\n7,2,3,4,5,6,01/01/2020,8\n9,2,3,4,5,6,01/01/2020,8\n"
            "7,2,3,4,5,6,01/01/2020,8\n9,2,3,4,5,6,01/01/2020,8\n".encode(),
            "AccountID '7' \\(line 2 and line 4\\), '9' \\(line 3 and line 5\\) appear more",
        ),
        (
            f"{HEADER}\n1,2,3,4,5,6,01/01/2020,8\n2,\x00\xff\xfe,3\n".encode("latin-1"),
            "line 3: not UTF-8",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8"),
        (b"PAR1 but not really parquet", "not a readable Parquet file"),
        (b'AccountID,"ZipCode\n', "header"),
    ],
)
def test_bad_tapes_are_refused_before_anything_is_written(
    tmp_path: Path, content: bytes, message: str
) -> None:
    tape = tmp_path / "tape.csv"
    tape.write_bytes(content)
    with pytest.raises(TapeError, match=message) as info:
        import_tape(tape, local_destination(tmp_path / "d"), as_of=AS_OF)
    assert str(tape) in str(info.value)
    assert not (bucket(tmp_path / "d") / "data").exists()


def test_missing_file_and_parquet_without_required_columns(tmp_path: Path) -> None:
    with pytest.raises(TapeError, match="no such file"):
        import_tape(tmp_path / "nope.csv", local_destination(tmp_path / "d"))
    with pytest.raises(TapeError, match="not a file"):
        import_tape(tmp_path, local_destination(tmp_path / "d"))
    tape = tmp_path / "t.parquet"
    pq.write_table(pa.table({"AccountID": [1], "Rate": [5.0]}), tape)
    with pytest.raises(TapeError, match="missing required columns ZipCode, Payment"):
        import_tape(tape, local_destination(tmp_path / "d"))
    odd = tmp_path / "odd.parquet"
    table = pa.table({c: [1] for c in HEADER.split(",")}).append_column(
        "LoanType", pa.array([[1, 2]])
    )
    pq.write_table(table, odd)
    with pytest.raises(TapeError, match="column 'LoanType' has type list<"):
        import_tape(odd, local_destination(tmp_path / "d"))


def test_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tape = write(tmp_path / "t.csv", f"{HEADER}\n1,12345,x,100,1000,12,01/01/2025,50000\n")
    data = tmp_path / "d"
    assert main(["import", str(tape), "--data-dir", str(data), "--as-of", "2026-11-27"]) == 0
    captured = capsys.readouterr()
    assert "imported CSV tape 1 loans" in captured.out
    assert "line 2: Rate 'x' is not a number" in captured.err
    assert main(["import", str(tmp_path / "missing.csv"), "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert "missing.csv: no such file" in err and "Traceback" not in err
    assert main(["import", str(tape), "--data-dir", str(data), "--strict", "--force"]) == 1
    assert "is not a number" in capsys.readouterr().err
