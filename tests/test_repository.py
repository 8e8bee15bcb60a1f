"""The repository's promises to a newcomer: the README's commands and CI agree.

The scripts are read as shell, command by command (``shlex``), so a comment or
an ``echo`` that merely names a tool does not count as running it.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Shell words around a command rather than being one.
KEYWORDS = {
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "do",
    "done",
    "while",
    "until",
    "!",
    "exec",
    "{",
    "}",
}
SEPARATORS = {";", "&&", "||", "|", "&", ";;", "(", ")"}


def shell_commands(path: Path) -> list[list[str]]:
    """The simple commands of a shell script, each as its argv, in order."""
    commands: list[list[str]] = []
    for line in path.read_text().splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token in SEPARATORS:
                if current:
                    commands.append(current)
                current = []
            elif current or token not in KEYWORDS:
                current.append(token)
    return commands


def index_of(commands: list[list[str]], *argv: str) -> int:
    """Where the first command starting with ``argv`` is; fails if there is none."""
    for index, command in enumerate(commands):
        if command[: len(argv)] == list(argv):
            return index
    raise AssertionError(f"no command {' '.join(argv)!r} in {commands}")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the README must open with a shell block"
    assert text.index("```sh") < text.index("\n## "), "the commands come first"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands_that_exist() -> None:
    assert readme_commands() == ["scripts/run", "scripts/test"]
    for command in readme_commands():
        script = ROOT / command
        assert script.is_file(), f"{command} is missing"
        assert os.access(script, os.X_OK), f"{command} is not executable"
        assert script.read_text().startswith("#!"), f"{command} has no #! line"
        assert ["set", "-euo", "pipefail"] in shell_commands(script), f"{command}: set -e"


def test_run_command_runs_montemap_run() -> None:
    commands = shell_commands(ROOT / "scripts" / "run")
    main = commands[-1]
    assert Path(main[0]).name == "montemap" and main[1:] == ["run", "$@"], main


def test_test_command_runs_lint_types_and_tests() -> None:
    commands = shell_commands(ROOT / "scripts" / "test")
    strict = index_of(commands, "set", "-euo", "pipefail")  # a failing step fails the script
    lint = index_of(commands, "ruff", "check")
    formatted = index_of(commands, "ruff", "format", "--check")
    types = index_of(commands, "mypy")
    tests = index_of(commands, "pytest")
    assert strict < lint < formatted < types < tests
    for index in (lint, formatted):
        assert {"src", "tests", "bench"} <= set(commands[index]), commands[index]
    assert commands[types] == ["mypy"], "mypy takes its files and strictness from pyproject"
    # every test, in two processes unless MONTEMAP_TEST_PROCESSES says otherwise
    assert commands[tests] == ["pytest", "-n", "${MONTEMAP_TEST_PROCESSES:-2}", "$@"]
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["strict"] is True and "src/montemap" in mypy["files"]


def test_ci_installs_from_scratch_then_runs_the_readme_test_command() -> None:
    commands = shell_commands(ROOT / ".ci" / "run")
    test_command = readme_commands()[1]
    assert commands[-1] == [test_command], ".ci/run must end by calling the README's test command"
    assert index_of(commands, "set", "-euo", "pipefail") < index_of(commands, "rm", "-rf", ".venv")
    assert index_of(commands, "rm", "-rf", ".venv") < index_of(commands, "scripts/setup")
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_shell_commands_reads_commands_not_words(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text(
        '# mypy and pytest in a comment\necho "run pytest"\nif [ -x a ]; then mypy; fi\nb && c x\n'
    )
    assert shell_commands(script) == [
        ["echo", "run pytest"],
        ["[", "-x", "a", "]"],
        ["mypy"],
        ["b"],
        ["c", "x"],
    ]


def test_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
