"""A reader that goes away (``montemap ... | head``) ends the command quietly.

Python's docs (signal, "Note on SIGPIPE") advise routing what is left of standard output
to ``/dev/null`` and exiting 1; a broken pipe anywhere else (a socket, a child's pipe)
is still an error, reported in one line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from montemap import cli


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """``montemap ARGS`` with standard output a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "montemap.cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [("workflows", "list"), ("workflows", "export", "data-processing", "--unbound")],
    ids=["small-output", "large-output"],
)
def test_a_reader_gone_away_ends_the_command_quietly(args: tuple[str, ...]) -> None:
    result = run_into_closed_pipe(*args)
    assert result.stderr == ""
    assert result.returncode == 1


def test_help_into_a_closed_pipe_says_nothing_on_stderr() -> None:
    result = run_into_closed_pipe("run", "--help")
    assert result.stderr == ""
    assert result.returncode in (0, 1)


def test_a_pipe_through_head_prints_no_error() -> None:
    command = f"{sys.executable} -m montemap.cli workflows export data-processing | head -n 1"
    result = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout == "{\n"
    assert result.stderr == ""


def test_a_broken_pipe_elsewhere_is_still_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="montemap")

    def fail(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    parser.set_defaults(func=fail)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == 1
    assert capsys.readouterr().err == "montemap: error: Broken pipe\n"


@pytest.mark.parametrize(
    "args", ["workflows list", "workflows export data-processing", "--help"], ids=str
)
def test_a_command_started_without_standard_output_discards_it(args: str) -> None:
    command = f"exec {sys.executable} -m montemap.cli {args} >&-"
    result = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stderr == ""
    assert result.returncode == 0
