"""A portfolio that cannot fit on the disk is refused in one line before a file is written
(each loan is a file: a mistyped ``--loans`` filled the disk, then failed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from montemap.cli import main


def test_more_loans_than_the_disk_holds_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stat = os.statvfs(tmp_path)
    loans = stat.f_bavail + 1  # each object takes at least one block
    data = tmp_path / "data"
    code = main(["generate", "--data-dir", str(data), "--loans", str(loans), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and f"{loans:,} loans need about" in err and "GB free" in err
    assert not [p for p in data.rglob("*") if p.is_file()]


def test_run_refuses_it_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loans = os.statvfs(tmp_path).f_bavail + 1
    data = tmp_path / "data"
    code = main(["run", "--data-dir", str(data), "--loans", str(loans), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "loans need about" in err
    assert not [p for p in data.rglob("*") if p.is_file() and p.suffix == ".csv"]
