"""``--estimator`` and ``--target-se`` on ``simulate`` (and ``--estimator`` through ``run``'s
workflow), the terminal output of ``run``, and monotonicity in the shock on a realistic book."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path

import pytest

from montemap.cli import main
from montemap.credit.generator import generate
from montemap.credit.params import MAX_PATHS, RunParams
from montemap.credit.portfolio import local_destination
from montemap.credit.simulate import SimulateError, paths_for_target, run_simulation
from montemap.credit.simulate_run import parse_target_se
from montemap.workflows import bindings, run_command, run_results
from tests.credit.helpers import csv_bytes, portfolio

AS_OF = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tape") / "book.csv"
    path.write_bytes(csv_bytes(portfolio(150), [*portfolio(1)[0].keys(), "NOI"]))
    return path


def _simulate(tape: Path, out: Path, *extra: str) -> dict:
    code = main(
        ["simulate", "--loans", str(tape), "--out", str(out), "--workers", "1",
         "--as-of", AS_OF.isoformat(), "--shocks", "0,200", "--no-report", *extra]
    )  # fmt: skip
    assert code == 0
    summary: dict = json.loads((out / "summary.json").read_text())
    return summary


def test_estimator_option(tape: Path, tmp_path: Path) -> None:
    plain = _simulate(tape, tmp_path / "plain", "--paths", "300", "--estimator", "plain")
    default = _simulate(tape, tmp_path / "is", "--paths", "300")
    assert plain["estimator"] == "plain" and plain["is_shift"] == 0.0
    assert default["estimator"] == "is" and default["is_shift"] < 0
    # the factor draws differ (shifted paths), so the tail figures differ
    assert plain["scenarios"][0]["var"] != default["scenarios"][0]["var"]
    with pytest.raises(SystemExit):
        main(["simulate", "--loans", str(tape), "--out", str(tmp_path / "x"), "--estimator", "x"])


def test_target_se_scales_a_pilot_run(
    tape: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pilot_params = RunParams(paths=200, seed=0, as_of=AS_OF, shocks_bp=(0, 200))
    pilot = run_simulation(tmp_path / "pilot", pilot_params, tape=tape, report=False).summary
    worst = max(sc["var_se"]["0.999"] / sc["var"]["0.999"] for sc in pilot["scenarios"])
    # S = S0 (r0 / target)^2: the standard error falls as 1/sqrt(S)
    want = max(200, math.ceil(200 * (worst / 0.02) ** 2 / 1000) * 1000)
    capsys.readouterr()
    summary = _simulate(tape, tmp_path / "sized", "--paths", "200", "--target-se", "2%")
    assert summary["paths"] == min(want, MAX_PATHS)
    assert f"needs {summary['paths']:,} paths" in capsys.readouterr().out
    achieved = max(sc["var_se"]["0.999"] / sc["var"]["0.999"] for sc in summary["scenarios"])
    assert achieved < worst


def test_target_se_parsing_and_sizing() -> None:
    assert parse_target_se("1%") == pytest.approx(0.01)
    assert parse_target_se("0.005") == pytest.approx(0.005)
    assert parse_target_se(None) is None
    for bad in ("0%", "abc", "150%"):
        with pytest.raises(SimulateError, match="--target-se"):
            parse_target_se(bad)
    summary = {"scenarios": [{"var": {"0.999": 100.0}, "var_se": {"0.999": 4.0}}]}
    assert paths_for_target(summary, 0.01, 1000) == 16_000  # (4% / 1%)^2 x 1000
    assert paths_for_target(summary, 0.5, 1000) == 1000  # never fewer than the pilot
    zero = {"scenarios": [{"var": {"0.999": 0.0}, "var_se": {"0.999": 0.0}}]}
    with pytest.raises(SimulateError, match="give --paths"):
        paths_for_target(zero, 0.01, 1000)
    unknown = {
        "scenarios": [
            {"shock_bp": 0, "var": {"0.999": 100.0}, "var_se": {"0.999": 4.0}},
            {"shock_bp": 300, "var": {"0.999": 200.0}, "var_se": {"0.999": None}},
        ]
    }
    with pytest.raises(SimulateError, match=r"no standard error\) at \+300 bp"):
        paths_for_target(unknown, 0.01, 1000)


def test_run_passes_the_estimator_to_workers_and_reducer() -> None:
    definition = json.loads(bindings.template("data-processing"))
    states = definition["States"]
    assert '\\"estimator\\": \\"is\\"' in json.dumps(states["Runtime Properties"]["Output"])
    dmap = states["Process Partitions"]["ItemProcessor"]["States"]["Processing DMap"]
    assert dmap["ItemBatcher"]["BatchInput"]["estimator.$"] == "$.config.estimator"
    reduce_payload = states["Reduce and Report"]["Parameters"]["Payload"]
    assert reduce_payload["estimator.$"] == "$.estimator"
    parser = argparse.ArgumentParser()
    run_command.register(parser.add_subparsers())
    args = parser.parse_args(["run", "--estimator", "plain", "--loans", "10"])
    spec = run_command._check(args)
    assert spec.execution_input()["estimator"] == "plain"
    default = run_command._check(parser.parse_args(["run"]))
    assert default.execution_input()["estimator"] == "is"


def test_run_prints_the_data_quality_block(
    tape: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = RunParams(paths=100, seed=0, as_of=AS_OF, shocks_bp=(0, 100))
    summary = run_simulation(tmp_path / "o", params, tape=tape, report=False).summary
    record = {
        "name": "run-x",
        "status": "SUCCEEDED",
        "duration_seconds": 1.0,
        "summary": summary,
        "workers": 2,
        "task_definition": "small",
        "cost": {"vcpu_seconds": 1, "gb_seconds": 1, "usd": 0.0,
                 "vcpu_hour_price": 0.01, "gb_hour_price": 0.001},
    }  # fmt: skip
    run_results.print_result(record, tmp_path / "o")
    out = capsys.readouterr().out
    assert "  data quality:" in out
    assert f"payment mismatches: {summary['payment_mismatch']:,}" in out
    assert "matured (left out): 0" in out


def test_tail_never_falls_as_the_shock_rises_on_a_realistic_book(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(local_destination(data), 2000, layout="realistic", seed=11, as_of=AS_OF)
    out = tmp_path / "o"
    code = main(
        ["simulate", "--data-dir", str(data), "--out", str(out), "--paths", "1000", "--seed", "4",
         "--as-of", AS_OF.isoformat(), "--workers", "1", "--no-report"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shocks_bp"] == [0, 100, 200, 300] and summary["estimator"] == "is"
    assert summary["loans"] > 1000
    scenarios = summary["scenarios"]
    for name in ("var", "es"):
        for level in ("0.99", "0.999"):
            values = [sc[name][level] for sc in scenarios]
            assert values == sorted(values), (name, level, values)
            assert values[-1] > values[0]
