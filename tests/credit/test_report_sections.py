"""The report's sections: differences vs base with intervals, contributions, IRB capital
and RWA per scenario and segment beside economic capital, data quality."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from montemap.credit.params import RunParams
from montemap.credit.report_format import money
from montemap.credit.simulate import run_simulation
from tests.credit.helpers import csv_bytes, portfolio

PARAMS = RunParams(paths=400, seed=8, as_of=dt.date(2026, 11, 27), shocks_bp=(0, 100, 300))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("sections")
    tape = root / "book.csv"
    tape.write_bytes(csv_bytes(portfolio(200, seed=3), [*portfolio(1)[0].keys(), "NOI"]))
    out = root / "out"
    summary = run_simulation(out, PARAMS, tape=tape).summary
    return summary, out


def _text(out: Path) -> str:
    page = (out / "report.html").read_text()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_capital_per_segment_sums_the_per_loan_figures(run: tuple[dict, Path]) -> None:
    summary, out = run
    loans = pq.read_table(out / "loans.parquet")
    for sc in summary["scenarios"]:
        rows = loans.filter(pc.equal(loans.column("shock_bp"), sc["shock_bp"]))
        for entry in sc["capital_segments"]["loan_type"]:
            part = rows.filter(pc.equal(rows.column("LoanType"), entry["key"]))
            irb = sum(part.column("irb_capital").to_pylist())
            assert entry["irb_capital"] == pytest.approx(irb, rel=1e-12)
            assert entry["rwa"] == pytest.approx(12.5 * irb, rel=1e-12)
            assert entry["loans"] == part.num_rows
        for seg in ("loan_type", "rate_type", "region", "score_band"):
            entries = sc["capital_segments"][seg]
            assert sum(e["irb_capital"] for e in entries) == pytest.approx(sc["irb_capital"])
            # economic capital per segment adds up to the portfolio's (VaR - EL)
            total_ec = sum(e["economic_capital"]["0.999"] for e in entries)
            assert total_ec == pytest.approx(sc["economic_capital"]["0.999"], rel=1e-6)


def test_report_shows_differences_contributions_capital_and_quality(
    run: tuple[dict, Path],
) -> None:
    summary, out = run
    text = _text(out)
    worst = summary["scenarios"][-1]
    vb = worst["vs_base"]
    assert "What the rise changes, and how precisely" in text
    low, high = vb["var_ci"]["0.999"]
    assert f"{money(vb['var']['0.999'])} 95%: {money(low)} to {money(high)}" in text
    assert "Who carries the tail (+300 bp)" in text
    top = worst["contributions"]["es_0.999"]["top"][0]
    assert f"{top['key']} {top['AccountID']}" in text
    for sc in summary["scenarios"]:
        assert money(sc["rwa"]) in text
        assert money(sc["economic_capital"]["0.999"]) in text
    personal = next(e for e in worst["capital_segments"]["loan_type"] if e["key"] == "personal")
    assert f"personal {personal['loans']:,} {money(personal['exposure'])}" in text
    assert "Data quality" in text
    assert (
        f"payments that differ from the annuity by more than 1% {summary['payment_mismatch']:,}"
        in text
    )
    assert "nan" not in text.lower().replace("financ", "")
