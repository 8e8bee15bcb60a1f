"""``montemap simulate --out DIR`` never writes over an earlier run's outputs unasked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.generator import generate
from montemap.credit.portfolio import local_destination

QUICK = ["--paths", "20", "--workers", "1", "--as-of", "2026-06-30", "--no-report"]


def test_an_out_holding_a_run_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    generate(local_destination(data), 30, as_of=None)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"earlier": true}\n')
    (out / "notes.txt").write_text("mine\n")
    argv = ["simulate", "--data-dir", str(data), "--out", str(out), *QUICK]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run's outputs (summary.json)" in err
    assert (out / "summary.json").read_text() == '{"earlier": true}\n'
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "summary.json"]

    assert main([*argv, "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["paths"] == 20
    assert (out / "notes.txt").read_text() == "mine\n"


def test_an_out_with_other_files_is_used(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(local_destination(data), 30)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    assert main(["simulate", "--data-dir", str(data), "--out", str(out), *QUICK]) == 0
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "summary.json").exists()
