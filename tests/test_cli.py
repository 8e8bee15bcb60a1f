"""The command line: every error is one line, a bug names the file holding its traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from montemap import cli


def run_montemap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_data_dir_that_is_a_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    result = run_montemap("simulate", "--data-dir", str(a_file), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(a_file) in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_module_registers() -> None:
    subparsers = cli.build_parser()._subparsers
    assert subparsers is not None
    choices = subparsers._group_actions[0].choices
    assert choices is not None
    names = set(choices)
    assert {"run", "compare", "workflows", "server", "worker", "simulate", "aws"} <= names


def _parser_raising(error: BaseException) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="montemap")

    def fail(args: argparse.Namespace) -> int:
        raise error

    parser.set_defaults(func=fail)
    return parser


def test_an_os_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = FileNotFoundError(2, "No such file or directory", "/nowhere/tape.csv")
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_raising(error))
    assert cli.main([]) == 1
    assert (
        capsys.readouterr().err == "montemap: error: No such file or directory: /nowhere/tape.csv\n"
    )


def test_a_bug_is_one_line_naming_its_traceback_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MONTEMAP_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_raising(ZeroDivisionError("boom")))
    assert cli.main([]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "this is a bug" in err and "ZeroDivisionError: boom" in err
    (log,) = tmp_path.glob("montemap-crash-*.log")
    assert str(log) in err
    assert "Traceback" in log.read_text() and "ZeroDivisionError: boom" in log.read_text()
