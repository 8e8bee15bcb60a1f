"""Every value of ``simulate``'s precision and size options is checked before any work:
a one-line error naming the option and its range, never a traceback (``--target-se
1e-300%`` raised OverflowError in ``paths_for_target``), and a ``--target-se`` that
would need more paths than ``--paths`` allows is refused, not run with 10,000,000 paths
that miss it."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.params import MAX_PATHS
from montemap.credit.simulate import SimulateError, paths_for_target
from montemap.credit.simulate_run import parse_target_se
from tests.credit.helpers import csv_bytes, portfolio

BAD_TARGETS = ["1e-300%", "1e-300", "0.001%", "nan", "nan%", "inf", "-inf%", "-1%", "0", "0%",
               "1e999", "1e999%", "%", "", "100%", "1", "abc"]  # fmt: skip


@pytest.mark.parametrize("text", BAD_TARGETS)
def test_target_se_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(SimulateError, match=r"^--target-se must be"):
        parse_target_se(text)


def test_target_se_range_ends() -> None:
    assert parse_target_se("0.01%") == pytest.approx(1e-4)
    assert parse_target_se("99.9%") == pytest.approx(0.999)


def test_a_target_beyond_the_most_paths_is_refused_without_overflow() -> None:
    summary = {"scenarios": [{"shock_bp": 0, "var": {"0.999": 100.0}, "var_se": {"0.999": 4.0}}]}
    # 4% at 1,000 paths: 10,000,000 paths reach 0.04%; 0.02% would need 40,000,000
    with pytest.raises(SimulateError, match=r"out of reach.*about 0\.040%"):
        paths_for_target(summary, 0.0002, 1000)
    with pytest.raises(SimulateError, match="out of reach"):
        paths_for_target(summary, 1e-302, 1000)  # (0.04 / 1e-302) ** 2 overflows a float
    assert paths_for_target(summary, 0.0004, 1000) == MAX_PATHS  # exactly within reach


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tape") / "book.csv"
    path.write_bytes(csv_bytes(portfolio(20), [*portfolio(1)[0].keys(), "NOI"]))
    return path


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--target-se", "1e-300%", "from 0.01% to under 100%"),
        ("--target-se", "nan", "from 0.01% to under 100%"),
        ("--paths", "0", "from 1 to 10,000,000"),
        ("--paths", "10000001", "from 1 to 10,000,000"),
        ("--paths", "1" + "0" * 30, "from 1 to 10,000,000"),
        ("--workers", "0", "from 1 to 1,024"),
        ("--workers", "99999999999", "from 1 to 1,024"),
        ("--batch-size", "0", "from 1 to 10,000"),
        ("--batch-size", "1" + "0" * 20, "from 1 to 10,000"),
        ("--cutoff", "nan", "(0, 1]"),
        ("--cutoff", "1e999", "(0, 1]"),
        ("--kappa", "-inf", "[0, 10]"),
        ("--seed", "-1", "2**64-1"),
    ],
)
def test_simulate_refuses_each_bad_value_in_one_line_before_any_work(
    tape: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str,
    says: str
) -> None:  # fmt: skip
    out = tmp_path / "out"
    code = main(["simulate", "--loans", str(tape), "--out", str(out), f"{option}={value}"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith(f"montemap: error: {option} must be") and says in err
    assert "\n" not in err and "Traceback" not in err
    assert not out.exists()  # refused before the run made anything
