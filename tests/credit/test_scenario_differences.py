"""Scenario differences and how precisely the report states them: the base scenario
whatever the order of ``--shocks``, differences the tail paths do not resolve, and the
summary's sentences for rate cuts, one scenario, and the 99.9% VaR's change."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import numpy as np

from montemap.credit.estimators import base_index, difference_table
from montemap.credit.params import RunParams
from montemap.credit.report_format import money
from montemap.credit.report_sections import build
from montemap.credit.simulate import run_simulation
from tests.credit.helpers import csv_bytes, portfolio

AS_OF = dt.date(2026, 11, 27)


def _run(root: Path, shocks: tuple[int, ...], paths: int = 200) -> tuple[dict, str]:
    root.mkdir(parents=True, exist_ok=True)
    tape = root / "book.csv"
    tape.write_bytes(csv_bytes(portfolio(60, seed=3), [*portfolio(1)[0].keys(), "NOI"]))
    params = RunParams(paths=paths, seed=4, as_of=AS_OF, shocks_bp=shocks, estimator="is")
    run_simulation(root / "out", params, tape=tape)
    summary = json.loads((root / "out" / "summary.json").read_text())
    page = (root / "out" / "report.html").read_text()
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    return summary, text


def test_a_difference_the_tail_paths_do_not_resolve_has_an_open_bound() -> None:
    """Losses that change only on body paths: every replicate gives a VaR/ES difference
    of 0, but [0, 0] with SE 0 would claim the change known to be none."""
    rng = np.random.default_rng(7)
    base = np.sort(rng.exponential(100.0, 400))
    up = base.copy()
    up[:200] += 1.0  # the 200 smallest losses rise: nothing near the 99% tail
    down = base.copy()
    down[:200] -= 0.5
    losses = np.stack([base, up, down, base])
    _tails, diffs = difference_table(losses, np.ones(400), (0.99,), seed=1, replicates=100)
    rise, cut, same = diffs[1][0.99], diffs[2][0.99], diffs[3][0.99]
    for d in (rise, cut, same):
        assert d.var == 0.0 and d.es == 0.0
    assert rise.var_ci == (0.0, None) and rise.es_ci == (0.0, None)
    assert rise.var_se is None and rise.es_se is None
    assert cut.var_ci == (None, 0.0) and cut.es_ci == (None, 0.0)
    # identical losses on every path: the difference is exactly 0, and known
    assert same.var_ci == (0.0, 0.0) and same.var_se == 0.0


def test_a_resolved_difference_keeps_its_interval() -> None:
    rng = np.random.default_rng(8)
    base = rng.exponential(100.0, 2000)
    losses = np.stack([base, base * 1.2])
    _tails, diffs = difference_table(losses, np.ones(2000), (0.99,), seed=1, replicates=100)
    d = diffs[1][0.99]
    low, high = d.var_ci
    assert low is not None and high is not None and low <= d.var <= high and low > 0
    assert d.var_se is not None and d.var_se > 0


def test_the_base_is_zero_else_the_lowest_shock_in_any_order() -> None:
    assert base_index((300, 0, 100)) == 1
    assert base_index((-100, -300, -200)) == 1
    assert base_index((200, 100)) == 1
    assert base_index((50,)) == 0


def test_unsorted_shocks_without_zero_give_the_report_its_intervals(tmp_path: Path) -> None:
    """--shocks -100,-300: differences from -300 bp (the report's base), so the summary
    states the paired interval of the expected loss and of the 99.9% VaR."""
    summary, text = _run(tmp_path, (-100, -300))
    by_shock = {sc["shock_bp"]: sc["vs_base"] for sc in summary["scenarios"]}
    assert by_shock[-100]["base_shock_bp"] == -300
    vb = by_shock[-100]
    low, _high = vb["expected_loss_ci"]
    assert f"(a difference of {money(vb['expected_loss'])}, 95% interval {money(low)}" in text
    vlow, vhigh = vb["var_ci"]["0.999"]
    shown = f"{money(vlow) if vlow is not None else '?'} to {money(vhigh) if vhigh is not None else '?'}"
    assert f"(a difference of {money(vb['var']['0.999'])}, 95% interval {shown}" in text
    assert "against" in text and "at baseline" not in text
    assert "in the -300 bp scenario." in text  # the flagged loans' comparison


def test_rate_cuts_only_are_described_against_today(tmp_path: Path) -> None:
    summary, text = _run(tmp_path, (-200, -100, 0))
    vb = next(sc["vs_base"] for sc in summary["scenarios"] if sc["shock_bp"] == -200)
    assert "If rates fall by 200 bp (2.00 percentage points), expected loss goes from" in text
    assert f"(a difference of {money(vb['expected_loss'])}" in text
    assert "after the cut" in text and "after the rise" not in text


def test_one_scenario_states_its_precision(tmp_path: Path) -> None:
    summary, text = _run(tmp_path, (100,))
    sc = summary["scenarios"][0]
    low, _high = sc["var_ci"]["0.999"]
    assert f"standard error {money(sc['expected_loss_se'])}" in text
    assert f"the 99.9% VaR is {money(sc['var']['0.999'])} (95% interval {money(low)} to" in text
    summary, text = _run(tmp_path / "one", (100,), paths=1)
    assert "with one path its standard error is unknown" in text
    assert "once per scenario" in text and "1 paths" not in text


def test_difference_and_capital_tables_follow_the_shock_order(tmp_path: Path) -> None:
    """--shocks 300,-100,100: the scenario table is by shock, and so are the tables of
    differences and capital (not the order given)."""
    summary, _text = _run(tmp_path, (300, -100, 100))
    assert summary["shocks_bp"] == [300, -100, 100]
    sections = build(summary)
    assert [r["shock_bp"] for r in sections["vs_base"]] == [100, 300]
    assert [r["shock_bp"] for r in sections["capital"]] == [-100, 100, 300]


def test_the_loss_chart_draws_each_figures_interval(tmp_path: Path) -> None:
    """The chart of loss against the shock shows the 95% intervals the table gives: a
    whisker per point and figure, an unknown bound as ``?``."""
    summary, _text = _run(tmp_path, (0, 300))
    page = html.unescape((tmp_path / "out" / "report.html").read_text())
    tips = re.findall(r"<title>([^<]*95% interval[^<]*)</title></line>", page)
    assert len(tips) == 3 * len(summary["scenarios"])
    for sc in summary["scenarios"]:
        low, high = sc["var_ci"]["0.999"]
        shown = f"{money(low)} to {'?' if high is None else money(high)}"
        assert f"{sc['shock_bp']:+d}: 95% interval {shown}" in tips
    summary, _text = _run(tmp_path / "one", (0, 300), paths=1)
    page = html.unescape((tmp_path / "one" / "out" / "report.html").read_text())
    assert "+300: 95% interval ? to ?" in page


def test_a_tiny_relative_change_does_not_read_as_none() -> None:
    from montemap.credit.report_narrative import _change

    assert _change(0.0003) == "up less than 0.05%"
    assert _change(-0.0003) == "down less than 0.05%"
    assert _change(0.004) == "up 0.4%" and _change(0.12) == "up 12%" and _change(0.0) == "up 0%"


def test_a_seed_beyond_two_to_the_63_keys_the_bootstrap_exactly() -> None:
    """Seeds take 64 bits: from 2**63 on, a list of Python ints made the bootstrap's key
    a float array (a RuntimeWarning, which the tests make an error, and nearby seeds
    sharing one key)."""
    rng = np.random.default_rng(9)
    base = rng.exponential(100.0, 500)
    losses = np.stack([base, base * 1.1])
    top = 2**64 - 1
    first, _ = difference_table(losses, np.ones(500), (0.99,), seed=top, replicates=50)
    second, _ = difference_table(losses, np.ones(500), (0.99,), seed=top - 1, replicates=50)
    assert first[1][0.99].var_ci != second[1][0.99].var_ci
