"""A mapping or functions file that is not YAML (a syntax error, binary bytes) is one line
naming the file, the line and the problem: PyYAML's message spanned four lines, and
bytes that are not UTF-8 were reported as a bug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from montemap.aws.mapping import ResourceMapping
from montemap.aws.options import AwsError
from montemap.engine.lambdas import FunctionConfigError, load_functions_file


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text("ok: 1\nlist: [1,\n")
    return path


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xce\xff\x00\x81 not text")
    return path


def test_a_mapping_file_with_a_syntax_error(broken: Path) -> None:
    with pytest.raises(AwsError) as caught:
        ResourceMapping.load(broken)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"mapping file {broken} is not valid YAML or JSON: line 3 column 1:")


def test_a_binary_mapping_file(binary: Path) -> None:
    with pytest.raises(AwsError, match="is not UTF-8 text"):
        ResourceMapping.load(binary)


def test_a_functions_file_with_a_syntax_error(broken: Path) -> None:
    with pytest.raises(FunctionConfigError) as caught:
        load_functions_file(broken)
    message = str(caught.value)
    assert "\n" not in message and "line 3 column 1:" in message


def test_a_binary_functions_file(binary: Path) -> None:
    with pytest.raises(FunctionConfigError, match="is not UTF-8 text"):
        load_functions_file(binary)


@pytest.mark.parametrize("option", ["--mapping", "--functions"])
def test_the_server_refuses_a_binary_file_in_one_line(
    tmp_path: Path, binary: Path, option: str
) -> None:
    args = ["server", "--port", "0", "--data-dir", str(tmp_path / "data"), option, str(binary)]
    done = subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if " INFO " not in line]
    assert errors == [errors[0]] and "is not UTF-8 text" in errors[0], done.stderr


def test_deploy_refuses_a_binary_template_in_one_line(
    binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from montemap.cli import main

    assert main(["deploy", str(binary), "--stack-name", "s1"]) == 1
    err = capsys.readouterr().err
    assert err == f"montemap: error: template {binary} is not UTF-8 text (YAML or JSON)\n"
