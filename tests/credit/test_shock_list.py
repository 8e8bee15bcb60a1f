"""``--shocks`` of ``simulate`` and ``run``: plain decimal integers (ASCII digits, an
optional sign), at most ``MAX_SCENARIOS`` of them, each refused in one line naming the
option and the bad value before any work. ``int`` read ``1_000`` as 1000 and ``٣٠٠`` as
300, and ``--shocks $(seq -s, -5000 5000)`` ran 10,001 scenarios (every loan modelled
and written 10,001 times); a BatchInput of the workflow is held to the same bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.params import (
    MAX_SCENARIOS,
    BatchInputError,
    parse_batch_input,
    parse_shock_list,
)
from tests.credit.helpers import csv_bytes, portfolio

MANY = ",".join(str(s) for s in range(-5000, 5001))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1_000", "got '1_000'"),
        ("0,٣٠٠", "got '٣٠٠'"),
        ("0,３００", "got '３００'"),
        ("0,0x10", "got '0x10'"),
        ("0,1e2", "got '1e2'"),
        ("0,100,", "got ''"),
        ("", "got ''"),
        ("0,,100", "got ''"),
        ("0,+-5", "got '+-5'"),
        ("0,1.5", "got '1.5'"),
        ("0,\t5", "got '\\t5'"),
        (MANY, "lists 10,001 scenarios; at most 64"),
        (",".join(["0"] * 65), "lists 65 scenarios; at most 64"),
        ("0,6000", "from -5000 to 5000 basis points, got 6000"),
        ("0," + "9" * 5000, "from -5000 to 5000 basis points, got 9999999"),
        ("0,-0", "repeats a scenario: +0 bp"),
        ("100,0100", "repeats a scenario: +100 bp"),
    ],
)
def test_a_bad_shock_list_is_refused_naming_the_value(text: str, says: str) -> None:
    with pytest.raises(BatchInputError) as caught:
        parse_shock_list("--shocks", text)
    cause = caught.value.cause or ""
    assert cause.startswith("--shocks ") and says in cause and "\n" not in cause
    assert len(cause) < 200


def test_good_shock_lists() -> None:
    assert parse_shock_list("--shocks", " -100, 0 ,+200") == (-100, 0, 200)
    assert parse_shock_list("--shocks", "-5000,5000,007") == (-5000, 5000, 7)
    grid = ",".join(str(s) for s in range(-3100, 3201, 100))
    assert len(parse_shock_list("--shocks", grid)) == MAX_SCENARIOS


def test_a_batch_input_with_too_many_scenarios_is_refused() -> None:
    ok = {"output_bucket": "b", "shocks_bp": list(range(MAX_SCENARIOS))}
    assert len(parse_batch_input(ok)[0].shocks_bp) == MAX_SCENARIOS
    with pytest.raises(BatchInputError, match="shocks_bp lists 65 scenarios; at most 64"):
        parse_batch_input({**ok, "shocks_bp": list(range(MAX_SCENARIOS + 1))})


@pytest.mark.parametrize("text", ["1_000", "0,٣٠٠", MANY, "0,6000", "0,0"])
def test_simulate_refuses_them_in_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    tape = tmp_path / "book.csv"
    tape.write_bytes(csv_bytes(portfolio(3)))
    out = tmp_path / "out"
    code = main(["simulate", "--loans", str(tape), "--out", str(out), f"--shocks={text}"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("montemap: error: --shocks ") and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("text", ["1_000", "0,٣٠٠", MANY, "0,6000", "0,0"])
def test_run_refuses_them_in_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    data = tmp_path / "data"
    code = main(["run", "--data-dir", str(data), "--loans", "10", "--quiet", f"--shocks={text}"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("montemap: error: --shocks ") and err.count("\n") == 1
    assert not data.exists()
