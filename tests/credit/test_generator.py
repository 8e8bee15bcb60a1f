"""The portfolio generator: layout, S3 Inventory format, determinism, both layouts."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from montemap.cli import main
from montemap.credit.columns import REQUIRED_COLUMNS
from montemap.credit.generator import (
    BLOCK,
    REALISTIC_COLUMNS,
    annuity,
    generate,
    generate_rows,
)
from montemap.credit.portfolio import (
    INVENTORY_ROWS_PER_FILE,
    SOURCE_BUCKET,
    Destination,
    GeneratorError,
    data_key,
    local_destination,
)
from montemap.storage import ObjectStore
from tests.storage.s3_server import moto_endpoint, reset_moto, s3_store

__all__ = ["moto_endpoint", "reset_moto", "s3_store"]

AS_OF = dt.date(2026, 11, 27)


def bucket_dir(data_dir: Path) -> Path:
    return data_dir / "buckets" / SOURCE_BUCKET


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def read_loans(store: ObjectStore, bucket: str, keys: list[str]) -> list[dict[str, str]]:
    out = []
    for key in keys:
        rows = list(csv.reader(io.StringIO(store.get(bucket, key).decode())))
        assert len(rows) == 2, key
        out.append(dict(zip(rows[0], rows[1], strict=True)))
    return out


def read_inventory(store: ObjectStore, bucket: str, prefix: str = "") -> Iterator[list[str]]:
    manifest = json.loads(store.get(bucket, prefix + "inventory/manifest.json"))
    for f in manifest["files"]:
        body = store.get(bucket, f["key"])
        assert len(body) == f["size"]
        assert hashlib.md5(body).hexdigest() == f["MD5checksum"]
        yield from csv.reader(io.StringIO(gzip.decompress(body).decode()))


def test_layout_inventory_and_manifest(tmp_path: Path) -> None:
    dest = local_destination(tmp_path)
    result = generate(dest, 300, seed=3, as_of=AS_OF, rows_per_inventory_file=128)
    root = bucket_dir(tmp_path)
    data = sorted(p.name for p in (root / "data").iterdir())
    assert data == [f"data-gen-{i:06d}.csv" for i in range(1, 301)]
    assert result.loans == 300
    assert result.data_bytes == sum(p.stat().st_size for p in (root / "data").iterdir())

    raw = (root / "inventory" / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert manifest["sourceBucket"] == SOURCE_BUCKET
    assert manifest["destinationBucket"] == f"arn:aws:s3:::{SOURCE_BUCKET}"
    assert manifest["version"] == "2016-11-30"
    assert manifest["creationTimestamp"] == "1795737600000"  # 2026-11-27T00:00Z in ms
    assert manifest["fileFormat"] == "CSV"
    assert manifest["fileSchema"] == "Bucket, Key, Size"
    assert [f["key"] for f in manifest["files"]] == [
        "inventory/loans-00000.csv.gz",
        "inventory/loans-00001.csv.gz",
        "inventory/loans-00002.csv.gz",
    ]
    checksum = (root / "inventory" / "manifest.checksum").read_text().strip()
    assert checksum == hashlib.md5(raw).hexdigest()

    rows = list(read_inventory(dest.store, SOURCE_BUCKET))
    assert [len(r) for r in rows] == [3] * 300
    assert [r[1] for r in rows] == [f"data/data-gen-{i:06d}.csv" for i in range(1, 301)]
    for bucket, key, size in rows:
        assert bucket == SOURCE_BUCKET
        assert int(size) == (root / key).stat().st_size
    # S3 Inventory CSV: no header, every field in double quotes
    first = gzip.decompress((root / "inventory" / "loans-00000.csv.gz").read_bytes())
    assert first.startswith(b'"montemap-source","data/data-gen-000001.csv","')

    loan = read_loans(dest.store, SOURCE_BUCKET, ["data/data-gen-000001.csv"])[0]
    assert list(loan) == list(REALISTIC_COLUMNS)
    assert loan["AccountID"] == "1"


def test_an_inventory_file_holds_one_generator_block() -> None:
    """The data-generation workflow writes one inventory file per drawn block."""
    assert INVENTORY_ROWS_PER_FILE == BLOCK


def test_key_width_grows_past_999999() -> None:
    assert data_key(7, 500_000) == "data/data-gen-000007.csv"
    assert data_key(7, 999_999) == "data/data-gen-000007.csv"
    assert data_key(7, 1_000_000) == "data/data-gen-0000007.csv"
    assert data_key(12, 20, "runs/a/") == "runs/a/data/data-gen-000012.csv"


@pytest.mark.parametrize("layout", ["seed", "realistic"])
def test_bit_identical_for_a_seed(tmp_path: Path, layout: str) -> None:
    for name in ("a", "b"):
        generate(local_destination(tmp_path / name), 150, layout=layout, seed=9, as_of=AS_OF)  # type: ignore[arg-type]
    generate(local_destination(tmp_path / "c"), 150, layout=layout, seed=10, as_of=AS_OF)  # type: ignore[arg-type]
    a, b, c = (all_files(bucket_dir(tmp_path / n)) for n in "abc")
    assert a == b
    assert a["data/data-gen-000001.csv"] != c["data/data-gen-000001.csv"]


@pytest.mark.parametrize("layout", ["seed", "realistic"])
def test_rows_do_not_depend_on_how_the_portfolio_is_cut(layout: str) -> None:
    big = generate_rows(layout, 5, 0, 70_010, AS_OF)  # type: ignore[arg-type]
    assert len(big) == 70_010
    assert generate_rows(layout, 5, 0, 100, AS_OF) == big.slice(0, 100)  # type: ignore[arg-type]
    across = generate_rows(layout, 5, 65_530, 20, AS_OF)  # type: ignore[arg-type]
    assert across == big.slice(65_530, 20)
    assert [r.split(",")[0] for r in across.to_pylist()] == [str(i) for i in range(65_531, 65_551)]


def test_seed_layout_draws_the_documented_uniform_ranges(tmp_path: Path) -> None:
    dest = local_destination(tmp_path)
    generate(dest, 3000, layout="seed", seed=1, as_of=AS_OF)
    loans = read_loans(dest.store, SOURCE_BUCKET, [data_key(i, 3000) for i in range(1, 3001)])
    assert list(loans[0]) == list(REQUIRED_COLUMNS)
    col = {c: [row[c] for row in loans] for c in REQUIRED_COLUMNS}
    assert [int(x) for x in col["AccountID"]] == list(range(1, 3001))
    assert all(len(z) == 5 and z.isdigit() for z in col["ZipCode"])
    rate = np.array(col["Rate"], float)
    assert rate.min() >= 1.0 and rate.max() <= 9.9 and rate.max() > 9.5 and rate.min() < 1.5
    assert all(len(r.split(".")[1]) == 1 for r in col["Rate"])
    payment = np.array(col["Payment"], float)
    assert payment.min() >= 100 and payment.max() <= 10_000 and payment.max() > 9_900
    amount = np.array(col["LoanAmount"], float)
    assert amount.min() >= 1_000 and amount.max() <= 10_000_000 and amount.max() > 9_900_000
    term = np.array(col["LoanTerm"], int)
    assert term.min() >= 12 and term.max() <= 360
    income = np.array(col["GrossIncome"], float)
    assert income.min() >= 20_000 and income.max() <= 500_000
    dates = [dt.datetime.strptime(d, "%m/%d/%Y").date() for d in col["OriginationDate"]]
    assert min(dates) >= dt.date(2015, 1, 1) and max(dates) <= dt.date(2024, 12, 31)
    # independent uniform draws: the columns are not coherent (the contract's point)
    assert np.abs(payment - annuity(amount, rate, term)).mean() > 1_000


def test_realistic_loans_are_coherent(tmp_path: Path) -> None:
    dest = local_destination(tmp_path)
    n = 4000
    generate(dest, n, seed=2, as_of=AS_OF)
    loans = read_loans(dest.store, SOURCE_BUCKET, [data_key(i, n) for i in range(1, n + 1)])
    col = {c: np.array([row[c] for row in loans]) for c in REALISTIC_COLUMNS}
    num = {
        c: col[c].astype(float)
        for c in REALISTIC_COLUMNS
        if c not in ("ZipCode", "OriginationDate", "LoanType", "RateType")
    }
    # the payment is the annuity of amount, rate and term, to the cent
    expected = np.round(annuity(num["LoanAmount"], num["Rate"], num["LoanTerm"]), 2)
    assert np.abs(num["Payment"] - expected).max() < 0.0051
    assert annuity(np.array([500_000.0]), np.array([5.0]), np.array([60]))[0] == pytest.approx(
        9435.62, abs=0.005
    )
    commercial = col["LoanType"] == "commercial"
    assert set(col["LoanType"]) == {"personal", "commercial"}
    assert 0.15 < commercial.mean() < 0.25
    assert set(col["RateType"]) == {"fixed", "variable"}
    assert 0.35 < (col["RateType"] == "variable").mean() < 0.45
    assert num["CreditScore"].min() >= 300 and num["CreditScore"].max() <= 850
    # personal: a plausible DTI spread around the 43% line
    p = ~commercial
    dti = 12 * (num["Payment"][p] + num["OtherMonthlyDebt"][p]) / num["GrossIncome"][p]
    assert 0.25 < np.median(dti) < 0.36
    assert 0.03 < (dti > 0.43).mean() < 0.15
    # commercial: NOI covers the debt service about 1.45x, some under 1.25x
    dscr = num["NOI"][commercial] / (12 * num["Payment"][commercial])
    assert 1.3 < np.median(dscr) < 1.6 and 0.1 < (dscr < 1.25).mean() < 0.4
    assert (num["NOI"][p] == 0).all() and (num["OtherMonthlyDebt"][commercial] == 0).all()
    assert 0.4 < (num["CollateralValue"] > 0).mean() < 0.9
    assert num["LoanAmount"].max() <= 10_000_000
    # origination in the past; most loans not matured at the reference date
    dates = [dt.datetime.strptime(d, "%m/%d/%Y").date() for d in col["OriginationDate"]]
    assert max(dates) <= AS_OF
    elapsed = np.array([(AS_OF.year - d.year) * 12 + AS_OF.month - d.month for d in dates])
    matured = elapsed >= num["LoanTerm"]
    assert 0.005 < matured.mean() < 0.06
    assert all(len(z) == 5 and z.isdigit() for z in col["ZipCode"])


def test_an_occupied_destination_is_refused_unless_forced(tmp_path: Path) -> None:
    dest = local_destination(tmp_path)
    generate(dest, 20, seed=1, as_of=AS_OF)
    with pytest.raises(GeneratorError, match=r"already holds a portfolio.*--force"):
        generate(dest, 10, seed=1, as_of=AS_OF)
    generate(dest, 10, seed=1, as_of=AS_OF, replace=True)
    root = bucket_dir(tmp_path)
    assert len(list((root / "data").iterdir())) == 10
    assert sorted(p.name for p in (root / "inventory").iterdir()) == [
        "loans-00000.csv.gz",
        "manifest.checksum",
        "manifest.json",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loans": 0}, "at least 1"),
        ({"loans": 5, "seed": -1}, "seed"),
        ({"loans": 5, "seed": 2**64}, "seed"),
        ({"loans": 5, "layout": "fancy"}, "layout"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GeneratorError, match=message):
        generate(local_destination(tmp_path), **kwargs)  # type: ignore[arg-type]
    assert not (bucket_dir(tmp_path) / "data").exists()


def test_an_unwritable_destination_is_a_clear_error(tmp_path: Path) -> None:
    root = bucket_dir(tmp_path)
    root.mkdir(parents=True)
    (root / "data").write_text("a file where the data folder should be")
    with pytest.raises(GeneratorError, match=r"cannot prepare .*: File exists"):
        generate(local_destination(tmp_path), 3, as_of=AS_OF)


def test_bad_destination() -> None:
    from montemap.storage import LocalObjectStore

    with pytest.raises(GeneratorError, match="invalid bucket name"):
        Destination(LocalObjectStore("/nonexistent"), "Bad_Bucket!")
    with pytest.raises(GeneratorError, match="must end with '/'"):
        Destination(LocalObjectStore("/nonexistent"), "ok-bucket", "pre")
    with pytest.raises(GeneratorError, match="relative"):
        Destination(LocalObjectStore("/nonexistent"), "ok-bucket", "../up/")


def test_generate_to_s3_with_a_prefix(s3_store: ObjectStore) -> None:
    dest = Destination(s3_store, "loans-bucket", "runs/one/")
    generate(dest, 40, seed=4, as_of=AS_OF, rows_per_inventory_file=25)
    rows = list(read_inventory(s3_store, "loans-bucket", "runs/one/"))
    assert [r[1] for r in rows] == [f"runs/one/data/data-gen-{i:06d}.csv" for i in range(1, 41)]
    sizes = {r[1]: int(r[2]) for r in rows}
    assert all(s3_store.head("loans-bucket", k).size == s for k, s in sizes.items())
    manifest = json.loads(s3_store.get("loans-bucket", "runs/one/inventory/manifest.json"))
    assert [f["key"] for f in manifest["files"]] == [
        "runs/one/inventory/loans-00000.csv.gz",
        "runs/one/inventory/loans-00001.csv.gz",
    ]
    with pytest.raises(GeneratorError, match="already holds"):
        generate(dest, 5, seed=4, as_of=AS_OF)
    generate(dest, 5, seed=4, as_of=AS_OF, replace=True)
    assert len(list(read_inventory(s3_store, "loans-bucket", "runs/one/"))) == 5
    assert len(s3_store.list_page("loans-bucket", "runs/one/data/").objects) == 5


def test_generate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--loans", "25", "--layout", "seed", "--seed", "7"]
    assert main([*argv, "--data-dir", str(tmp_path), "--as-of", "2026-11-27"]) == 0
    out = capsys.readouterr().out
    assert "25 loans" in out and "inventory/manifest.json" in out
    assert len(list((bucket_dir(tmp_path) / "data").iterdir())) == 25
    # a second run is refused with a clear message, not a traceback
    assert main([*argv, "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "already holds a portfolio" in err and "Traceback" not in err
    assert main(["generate", "--loans", "0", "--data-dir", str(tmp_path / "x")]) == 1
    assert "at least 1" in capsys.readouterr().err
    assert main([*argv, "--data-dir", str(tmp_path / "y"), "--as-of", "27/11/2026"]) == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main([*argv, "--out", "gs://nope"]) == 1
    assert "s3://BUCKET/PREFIX" in capsys.readouterr().err


def test_generate_command_to_s3(
    moto_endpoint: str, s3_store: ObjectStore, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["generate", "--loans", "12", "--out", "s3://cli-bucket/p/q/"]
    assert main([*argv, "--endpoint-url", moto_endpoint, "--as-of", "2026-11-27"]) == 0
    assert "s3://cli-bucket/p/q/" in capsys.readouterr().out
    rows = list(read_inventory(s3_store, "cli-bucket", "p/q/"))
    assert [r[1] for r in rows][-1] == "p/q/data/data-gen-000012.csv"
    with pytest.raises(SystemExit):  # argparse: one destination only
        main([*argv, "--data-dir", "x"])
    assert "not allowed with" in capsys.readouterr().err
