"""Precision at the edges: with too few paths, or a tail that rests on the largest path
loss alone, the run says it does not know (``null`` in summary.json, ``?`` in the
report) instead of reporting a zero-width interval or a zero standard error."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from montemap.credit.estimators import difference_table, weighted_mean_se
from montemap.credit.params import RunParams
from montemap.credit.report_format import money
from montemap.credit.simulate import run_simulation
from tests.credit.helpers import csv_bytes, portfolio

AS_OF = dt.date(2026, 11, 27)


def _text(out: Path) -> str:
    page = (out / "report.html").read_text()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _run(root: Path, paths: int, estimator: str, shocks: tuple[int, ...] = (0, 300)) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    tape = root / "book.csv"
    tape.write_bytes(csv_bytes(portfolio(60, seed=3), [*portfolio(1)[0].keys(), "NOI"]))
    params = RunParams(paths=paths, seed=4, as_of=AS_OF, shocks_bp=shocks, estimator=estimator)
    run_simulation(root / "out", params, tape=tape)
    text = (root / "out" / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc: dict = json.loads(text)
    return doc


def test_one_path_has_no_standard_error_and_no_interval() -> None:
    losses = np.array([[5.0], [7.0]])
    tails, diffs = difference_table(losses, np.ones(1), (0.99, 0.999), seed=1, replicates=20)
    for a in (0.99, 0.999):
        for t in (tails[0][a], tails[1][a], diffs[1][a]):
            assert t.var_se is None and t.es_se is None
            assert t.var_ci == (None, None) and t.es_ci == (None, None)
        assert diffs[1][a].var == 2.0
        assert diffs[0][a].var_ci == (0.0, 0.0)  # the base minus itself is exactly 0
    assert weighted_mean_se(np.array([3.0]), np.ones(1)) == (3.0, None)


def test_a_var_on_the_largest_path_has_no_upper_bound() -> None:
    """Ten plain paths: VaR 99% and 99.9% are the largest loss; nothing bounds them above
    (the true 99.9% quantile exceeds the largest of 10 draws with probability 0.99)."""
    rng = np.random.default_rng(3)
    base = rng.exponential(100.0, 10)
    losses = np.stack([base, base * 1.5])
    tails, diffs = difference_table(losses, np.ones(10), (0.99, 0.999), seed=1, replicates=50)
    for a in (0.99, 0.999):
        t = tails[1][a]
        assert t.var == losses[1].max()
        assert t.var_ci[0] is not None and t.var_ci[0] <= t.var
        assert t.var_ci[1] is None and t.es_ci[1] is None and t.var_se is None
        assert diffs[1][a].var_ci == (None, None) and diffs[1][a].var_se is None
    # with 1,000 plain paths the 99% figures rest on ten paths: a finite interval
    many = rng.exponential(100.0, (1, 1000))
    t = difference_table(many, np.ones(1000), (0.99,), seed=1, replicates=50)[0][0][0.99]
    assert t.var_ci[1] is not None and t.var_ci[0] is not None and t.var_se is not None
    assert t.var_ci[0] < t.var < t.var_ci[1]


@pytest.mark.parametrize("paths", [1, 10])
def test_few_paths_summary_and_report_say_what_is_unknown(tmp_path: Path, paths: int) -> None:
    summary = _run(tmp_path, paths, "plain")
    for sc in summary["scenarios"]:
        assert sc["var_ci"]["0.999"][1] is None and sc["var_se"]["0.999"] is None
        assert sc["es_ci"]["0.999"][1] is None and sc["es_se"]["0.999"] is None
        if paths == 1:
            assert sc["expected_loss_se"] is None
            assert sc["unexpected_loss"] is None and sc["default_count"]["sd"] is None
    worst = summary["scenarios"][-1]["vs_base"]
    assert worst["var_ci"]["0.999"] == [None, None]
    text = _text(tmp_path / "out")
    assert "95%: $" in text or paths == 1
    # no interval the paths cannot give is printed as a number
    var = summary["scenarios"][-1]["var"]["0.999"]

    assert f"{money(var)}–{money(var)}" not in text
    assert "?" in text


def test_narrative_states_the_paired_difference_and_when_it_is_noise(tmp_path: Path) -> None:
    summary = _run(tmp_path / "a", 200, "is", shocks=(0, 300))
    vb = summary["scenarios"][-1]["vs_base"]
    low, high = vb["expected_loss_ci"]
    assert low > 0
    text = _text(tmp_path / "a" / "out")
    assert (
        f"(a difference of {money(vb['expected_loss'])}, 95% interval {money(low)} to "
        f"{money(high)} on the same paths)" in text
    )
    # the segment sentence sums the per-loan figures, not the simulated paths: it says so
    assert "increase in the loans' modelled expected loss (stressed PD x LGD x exposure)" in text
    # +1 bp: a change the paths cannot tell from none, and said so
    summary = _run(tmp_path / "b", 200, "is", shocks=(0, 1))
    low, high = summary["scenarios"][-1]["vs_base"]["expected_loss_ci"]
    assert low <= 0 <= high
    assert "not distinguishable from no change" in _text(tmp_path / "b" / "out")


def test_narrative_without_a_baseline_does_not_call_the_base_today(tmp_path: Path) -> None:
    _run(tmp_path, 100, "is", shocks=(-200, -100))
    text = _text(tmp_path / "out")
    assert "at today's rates" not in text and "(today " not in text
    assert "higher than in the -200 bp scenario" in text
    assert "in the -200 bp scenario (a difference of" in text
    assert "less a month than today" in text  # rate cuts: not "pay -3.4% more"


def test_narrative_says_when_the_tail_is_beyond_the_paths(tmp_path: Path) -> None:
    _run(tmp_path / "a", 10, "plain")
    assert "10 paths do not reach that far into the tail" in _text(tmp_path / "a" / "out")
    _run(tmp_path / "b", 10, "plain", shocks=(0,))  # one scenario: said there too
    assert "10 paths do not reach that far into the tail" in _text(tmp_path / "b" / "out")


def test_differences_are_from_the_baseline_wherever_it_is_given(tmp_path: Path) -> None:
    """--shocks 300,0,100: the differences are from 0 bp (not from +300 bp, the first),
    the same figures as with 0,100,300, and the report's summary gives their interval."""
    given = _run(tmp_path / "a", 200, "is", shocks=(300, 0, 100))
    ordered = _run(tmp_path / "b", 200, "is", shocks=(0, 100, 300))
    by_shock = {sc["shock_bp"]: sc["vs_base"] for sc in ordered["scenarios"]}
    for sc in given["scenarios"]:
        assert sc["vs_base"] == by_shock[sc["shock_bp"]]
        assert sc["vs_base"]["base_shock_bp"] == 0
    text = _text(tmp_path / "a" / "out")
    assert "Each scenario minus baseline (0 bp)" in text
    vb = by_shock[300]
    low, _high = vb["expected_loss_ci"]
    assert f"(a difference of {money(vb['expected_loss'])}, 95% interval {money(low)}" in text
