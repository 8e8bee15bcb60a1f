"""Every number option of every command takes plain ASCII numbers only.

argparse's ``type=int``/``type=float`` read what Python's ``int``/``float`` read:
``1_000``, surrounding spaces, the digits of other scripts (``١٠٠``, fullwidth ``１００``)
and ``inf``/``nan``. Such a value is refused by argparse in one error line naming the
option and the value, exit 2; a value in ASCII digits goes on to the command's own
range check (which names the range)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from montemap import option_types
from montemap.cli import build_parser, main, parser_for

#: Each command's arguments that make a complete command line besides the option tried.
BASE = {
    "simulate": ["simulate", "--loans", "t.csv", "--out", "o"],
    "run": ["run"],
    "generate": ["generate", "--loans", "10"],
    "server": ["server"],
    "worker": ["worker", "--activity-arn", "a", "--handler", "m:f"],
    "aws collect": ["aws", "collect", "arn"],
}
INTEGER_OPTIONS = [
    ("simulate", "--paths"), ("simulate", "--seed"), ("simulate", "--batch-size"),
    ("simulate", "--workers"), ("run", "--loans"), ("run", "--portfolio-seed"),
    ("run", "--workers"), ("run", "--paths"), ("run", "--seed"), ("run", "--batch-size"),
    ("run", "--partitions"), ("run", "--sample-every"), ("generate", "--loans"),
    ("generate", "--seed"), ("server", "--port"), ("server", "--capacity-cpu"),
    ("server", "--capacity-memory"), ("server", "--max-tasks"), ("server", "--shutdown-timeout"),
    ("server", "--max-connections-per-client"), ("worker", "--concurrency"),
]  # fmt: skip
NUMBER_OPTIONS = [
    ("simulate", "--cutoff"), ("simulate", "--kappa"), ("simulate", "--target-se"),
    ("run", "--price-vcpu-hour"), ("run", "--price-gb-hour"), ("server", "--worker-stop-grace"),
    ("server", "--header-timeout"), ("server", "--body-timeout"),
    ("worker", "--heartbeat-interval"), ("worker", "--shutdown-grace"), ("worker", "--poll-ahead"),
    ("aws collect", "--price-vcpu-hour"), ("aws collect", "--price-gb-hour"),
]  # fmt: skip
NOT_ASCII = ["١٠٠", "１００", "1_000", " 5", "5 ", "\u00a05", "٣", "0x10", "1e3", "", "+"]
NOT_ASCII_NUMBER = ["٠.٥", "０.５", "1_0.5", " 0.5", "0.5\t", "1e_3", "0x1p-1", "Ⅴ", "."]


def _refusal(command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]) -> str:
    argv = [*BASE[command], f"{option}={value}"]
    with pytest.raises(SystemExit) as stopped:
        parser_for(argv).parse_args(argv)
    assert stopped.value.code == 2
    last = capsys.readouterr().err.rstrip("\n").splitlines()[-1]
    assert f"argument {option}" in last and f": {value[:24]!r}"[:-1] in last, last
    return last


@pytest.mark.parametrize(("command", "option"), INTEGER_OPTIONS)
@pytest.mark.parametrize("value", NOT_ASCII)
def test_an_integer_option_takes_ascii_digits_only(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _refusal(command, option, value, capsys)


@pytest.mark.parametrize(("command", "option"), NUMBER_OPTIONS)
@pytest.mark.parametrize("value", NOT_ASCII_NUMBER)
def test_a_number_option_takes_ascii_digits_only(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _refusal(command, option, value, capsys)


@pytest.mark.parametrize(
    ("command", "option"),
    [("server", "--worker-stop-grace"), ("server", "--header-timeout"),
     ("server", "--body-timeout"), ("aws collect", "--price-vcpu-hour"),
     ("aws collect", "--price-gb-hour"), ("worker", "--shutdown-grace")],
)  # fmt: skip
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "Infinity", "1e999"])
def test_options_without_a_range_check_refuse_nan_and_inf(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _refusal(command, option, value, capsys)


def test_a_long_value_is_quoted_short(capsys: pytest.CaptureFixture[str]) -> None:
    last = _refusal("simulate", "--paths", "٣" * 5000, capsys)
    assert last.endswith("... (5,000 characters) is not a whole number (ASCII digits 0-9)")
    assert len(last) < 200
    last = _refusal("server", "--port", "1" * 5000, capsys)
    assert last.endswith("... (5,000 characters) is out of range")


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["simulate", "--loans", "t", "--out", "o", "--paths", "250"], "paths", 250),
        (["simulate", "--loans", "t", "--out", "o", "--seed", "+7"], "seed", 7),
        (["simulate", "--loans", "t", "--out", "o", "--seed=-1"], "seed", -1),
        (["simulate", "--loans", "t", "--out", "o", "--cutoff", ".25"], "cutoff", 0.25),
        (["simulate", "--loans", "t", "--out", "o", "--kappa", "15e-2"], "kappa", 0.15),
        (["simulate", "--loans", "t", "--out", "o", "--target-se", "0.5%"], "target_se", "0.5%"),
        (["run", "--paths", "0100"], "paths", 100),
        (["server", "--port", "0"], "port", 0),
        (["server", "--body-timeout", "2.5"], "body_timeout", 2.5),
        (["worker", *BASE["worker"][1:], "--concurrency", "4"], "concurrency", 4),
        (["generate", "--loans", "18446744073709551615"], "loans", 2**64 - 1),
    ],
)
def test_plain_values_are_read(argv: list[str], dest: str, value: object) -> None:
    assert getattr(parser_for(argv).parse_args(argv), dest) == value


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def test_no_option_takes_pythons_lax_int_or_float() -> None:
    lax = [a.option_strings for a in _actions(build_parser()) if a.type in (int, float)]
    assert lax == []
    assert option_types.integer("-0012") == -12


@pytest.mark.parametrize(
    ("command", "option"),
    [("simulate", "--paths"), ("server", "--port"), ("simulate", "--cutoff"), ("run", "--name")],
)
def test_dashes_are_not_a_value(
    command: str, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse hands ``--paths=--`` to the command as an empty list, past the type (it
    was an internal error comparing a list with a number)."""
    with pytest.raises(SystemExit) as stopped:
        main([*BASE[command], f"{option}=--"])
    assert stopped.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert (
        last == f"montemap: error: argument {option}: expected one argument ('--' is not a value)"
    )
