"""The repository's promises to a newcomer: the README's commands and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the README must open with a shell block"
    assert text.index("```sh") < text.index("\n## "), "the commands come first"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    run, test = commands
    assert run == "scripts/run"
    assert test == "scripts/test"
    assert "montemap run" in (ROOT / "scripts" / "run").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    test_command = readme_commands()[1]
    assert test_command in [line.strip() for line in ci], (
        ".ci/run must call the README's test command"
    )
    assert any("setup" in line for line in ci), ".ci/run must install from scratch"


def test_test_command_runs_lint_types_and_tests() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    for tool in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert tool in script


def test_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
