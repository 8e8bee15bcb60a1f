"""``run`` and ``simulate`` describe the options they share alike in ``--help``, limits
included (``run --help`` did not say that ``--shocks`` takes at most 64 scenarios)."""

from __future__ import annotations

import argparse

import pytest

from montemap.cli import parser_for
from montemap.credit import run_options
from montemap.credit.shock_list import MAX_SCENARIOS, MAX_SHOCK_BP

SHARED = ["--shocks", "--paths", "--seed", "--as-of", "--batch-size", "--estimator"]


def _helps(command: str) -> dict[str, str]:
    """Each option of ``command`` and its help as ``--help`` prints it (defaults filled)."""
    root = parser_for([command])
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    formatter = parser._get_formatter()
    return {
        option: formatter._expand_help(action)
        for action in parser._actions
        for option in action.option_strings
    }


@pytest.mark.parametrize("option", SHARED)
def test_shared_options_have_the_same_help(option: str) -> None:
    assert _helps("run")[option] == _helps("simulate")[option]


def test_the_help_names_the_limits() -> None:
    helps = _helps("run")
    assert f"at most {MAX_SCENARIOS} distinct" in helps["--shocks"]
    assert f"-{MAX_SHOCK_BP} to {MAX_SHOCK_BP}" in helps["--shocks"]
    assert "1 to 10,000,000" in helps["--paths"]
    assert "0 to 2^64-1" in helps["--seed"]
    assert "1 to 10,000" in helps["--batch-size"]


def test_the_limits_are_the_workers_limits() -> None:
    from montemap.credit import params
    from montemap.credit.commands import MAX_BATCH_SIZE

    assert run_options.MAX_PATHS == params.MAX_PATHS
    assert run_options.DEFAULT_PATHS == params.DEFAULT_PATHS
    assert ",".join(map(str, params.DEFAULT_SHOCKS_BP)) == run_options.DEFAULT_SHOCKS
    assert run_options.MAX_BATCH_SIZE == MAX_BATCH_SIZE
