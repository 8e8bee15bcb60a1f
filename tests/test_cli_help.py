"""Every ``montemap`` command's ``--help`` is plain text: descriptions taken from
docstrings showed their reStructuredText marks (``montemap aws``) in the terminal."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from montemap import cli


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                yield from _commands(command, (*path, name))


def test_no_help_shows_restructuredtext_marks() -> None:
    marked = [
        " ".join(path) or "montemap"
        for path, parser in _commands(cli.build_parser())
        if "``" in parser.format_help()
    ]
    assert marked == []


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_each_command_parser_alone_has_plain_help(command: str) -> None:
    parser = cli.parser_for([command])
    for path, sub in _commands(parser):
        assert "``" not in sub.format_help(), " ".join(path)
