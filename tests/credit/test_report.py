"""report.html: structure, charts, escaping, and bad inputs; one run of the real pipeline."""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit.generator import generate
from montemap.credit.portfolio import local_destination
from montemap.credit.report import write_report
from montemap.credit.report_charts import nice_ticks
from montemap.credit.report_format import money
from montemap.credit.report_inputs import ReportError

EVIL = '<script>alert("x")</script>'
SHOCKS = [0, 100, 200, 300]


def scenario(shock: int) -> dict[str, Any]:
    """One scenario of summary.json, following the schema in docs/model.md."""
    f = 1 + shock / 300
    edges = [i * 1.0e6 * f for i in range(41)]
    counts = [max(0, 60 - abs(i - 8) * 6) for i in range(40)]
    groups = ["personal", "commercial"]

    def group(key: str, el: float) -> dict[str, Any]:
        return {
            "key": key,
            "loans": 50,
            "exposure": 5.0e7,
            "expected_loss": el,
            "sim_expected_loss": el,
            "mean_pd": 0.02 * f,
            "flagged": shock // 100,
        }

    return {
        "shock_bp": shock,
        "mu": -0.0015 * shock,
        "exposure": 1.0e8,
        "expected_loss": 2.0e6 * f,
        "expected_loss_se": 5.0e4,
        "expected_loss_model": 2.0e6 * f,
        "unexpected_loss": 1.5e6 * f,
        "var": {"0.99": 9.0e6 * f, "0.999": 1.4e7 * f},
        "var_se": {"0.99": 3.0e5, "0.999": 9.0e5},
        "es": {"0.99": 1.1e7 * f, "0.999": 1.6e7 * f},
        "irb_capital": 8.0e6,
        "defaults_flagged": shock // 100,
        "mean_pd": 0.02 * f,
        "mean_pd0": 0.02,
        "default_count": {
            "mean": 2.0 * f,
            "sd": 1.0,
            "min": 0,
            "max": 9,
            "quantiles": {"0.5": 2, "0.99": 6 * f, "0.999": 8 * f},
        },
        "loss_histogram": {"edges": edges, "counts": counts},
        "pd_histogram": {
            "edges": [0.0003 * (1 / 0.0003) ** (i / 24) for i in range(25)],
            "counts": [i % 7 for i in range(24)],
        },
        "breakdowns": {
            "loan_type": [group(g, 1.0e6 * f) for g in groups],
            "rate_type": [group("fixed", 8e5 * f), group("variable", 1.2e6 * f)],
            "rate_bucket": [group(k, 4e5 * f) for k in ("<4%", "4-6%", "6-8%", "8-10%", ">=10%")],
            "term": [
                group(k, 3e5) for k in ("<=12", "13-36", "37-60", "61-120", "121-240", ">240")
            ],
            "size_band": [
                group(k, 4e5) for k in ("<10k", "10k-50k", "50k-250k", "250k-1M", ">=1M")
            ],
            "zip3": [group("021", 5e5), group(EVIL, 7e5 * f)],
        },
    }


def summary() -> dict[str, Any]:
    return {
        "format": 1,
        "loans": 100,
        "objects": 103,
        "rejected": 2,
        "matured": 1,
        "paths": 1000,
        "seed": 42,
        "as_of": "2026-11-27",
        "shocks_bp": SHOCKS,
        "cutoff": 0.5,
        "kappa": 0.15,
        "backend": "numpy",
        "scenarios": [scenario(s) for s in SHOCKS],
    }


def loans_table() -> pa.Table:
    rows = []
    for shock in SHOCKS:
        for i in range(100):
            commercial = i % 5 == 0
            variable = i % 2 == 0
            payment = 1000.0 + i
            shocked = payment * (1 + 0.0004 * shock) if variable else payment
            rows.append(
                {
                    "key": EVIL if i == 7 else f"data/data-gen-{i + 1:06d}.csv",
                    "AccountID": i + 1,
                    "ZipCode": "02134",
                    "zip3": "021",
                    "LoanType": "commercial" if commercial else "personal",
                    "RateType": "variable" if variable else "fixed",
                    "shock_bp": shock,
                    "balance": 1.0e6,
                    "payment": payment,
                    "shocked_payment": shocked,
                    "payment_change": shocked - payment,
                    "dti": None if commercial else 0.30 + i / 250 + shock / 5000,
                    "dscr": 1.5 - shock / 1000 if commercial else None,
                    "crossed": bool(shock and i % 9 == 0),
                    "pd0": 0.02,
                    "pd_stressed": 0.02 + shock / 1e4 + i / 1e4,
                    "expected_loss": 1000.0 * (i + 1) * (1 + (2 if variable else 1) * shock / 300),
                    "WillDefault": "NO",
                }
            )
    return pa.Table.from_pylist(rows)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "summary.json").write_text(json.dumps(summary()))
    pq.write_table(loans_table(), tmp_path / "loans.parquet")
    return tmp_path


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_report_structure(run_dir: Path) -> None:
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    parser = _Tags()
    parser.feed(html)
    # self-contained: no scripts, no external resources of any kind
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not [a for a in parser.attrs if a[0] in ("src", "href")]
    assert "url(" not in html and "@import" not in html
    for heading in ("Summary", "Scenarios", "Loss distribution", "Affordability", "Breakdowns"):
        assert f"<h2>{heading}</h2>" in html
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    # loss distribution, default rate, losses, 5 breakdowns, PD histogram
    assert len(svgs) == 9
    for svg in svgs:
        ET.fromstring(svg)  # each chart is well-formed XML
    loss = svgs[0]
    # one panel per scenario, each with EL, VaR 99%, VaR 99.9% and ES 99.9% marked
    for s in SHOCKS:
        assert (">baseline (0 bp)<" if s == 0 else f">+{s} bp<") in loss
    assert loss.count('stroke-dasharray="6 3"') == 4 + 1  # four VaR 99% marks + legend
    assert loss.count('stroke-dasharray="2 2"') == 4 + 1


def test_summary_speaks_plainly(run_dir: Path) -> None:
    html = write_report(run_dir).read_text()
    text = re.sub(r"<[^>]+>", "", html)
    assert "If rates rise by 300 bp (3.00 percentage points)" in text
    assert f"from {money(2.0e6)}" in text and f"to {money(4.0e6)}" in text
    assert "up 100%" in text
    assert f"would lose {money(2.8e7)} after the rise, against {money(1.4e7)}" in text
    assert "variable-rate borrowers pay on average 12.0% more" in text
    assert "above the 43% debt-to-income line" in text
    assert "under 1.25x debt-service cover" in text
    assert "comes from variable personal loans" in text


def test_values_from_the_data_are_escaped(run_dir: Path) -> None:
    html = write_report(run_dir).read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # zip3 and loan key


def test_without_loans_parquet_the_report_still_renders(run_dir: Path) -> None:
    (run_dir / "loans.parquet").unlink()
    html = write_report(run_dir).read_text()
    assert "loans.parquet is missing" in html
    assert "<h2>Affordability</h2>" not in html
    assert "<h2>Loss distribution</h2>" in html


def test_a_single_scenario(run_dir: Path) -> None:
    doc = summary()
    doc["scenarios"] = doc["scenarios"][:1]
    (run_dir / "summary.json").write_text(json.dumps(doc))
    html = write_report(run_dir).read_text()
    assert "Expected loss is <b>" in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("scenarios"), "'scenarios' must be a non-empty list"),
        (lambda d: d["scenarios"][1].pop("var"), r"scenarios\[1\].var must be an object"),
        (
            lambda d: d["scenarios"][0].update(expected_loss="lots"),
            r"scenarios\[0\].expected_loss must be a finite number",
        ),
        (lambda d: d["scenarios"][2].update(shock_bp=1.5), "shock_bp must be an integer"),
        (
            lambda d: d["scenarios"][0]["loss_histogram"]["counts"].pop(),
            r"loss_histogram needs 'edges'",
        ),
    ],
)
def test_malformed_summary(run_dir: Path, change: Any, message: str) -> None:
    doc = summary()
    change(doc)
    (run_dir / "summary.json").write_text(json.dumps(doc))
    with pytest.raises(ReportError, match=message):
        write_report(run_dir)


def test_missing_or_unreadable_inputs(tmp_path: Path, run_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReportError, match="no such file"):
        write_report(empty)
    with pytest.raises(ReportError, match="not a directory"):
        write_report(tmp_path / "nope")
    (run_dir / "loans.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReportError, match="not a readable Parquet file"):
        write_report(run_dir)
    pq.write_table(pa.table({"key": ["a"]}), run_dir / "loans.parquet")
    with pytest.raises(ReportError, match="missing column"):
        write_report(run_dir)
    (run_dir / "summary.json").write_text("{not json")
    with pytest.raises(ReportError, match="not readable JSON"):
        write_report(run_dir)


def test_nice_ticks_cover_the_range() -> None:
    assert nice_ticks(0, 0.0115, 4) == [0.0, 0.005, 0.01, 0.015]
    assert nice_ticks(0, 97e6, 6)[-1] >= 97e6
    assert nice_ticks(0, 0, 5)[0] == 0


def test_report_command(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(run_dir / "nope")]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_report_of_a_real_run(tmp_path: Path) -> None:
    """generate -> simulate (the model helper's pipeline) -> report.html."""
    generate(local_destination(tmp_path / "data"), 300, seed=11, as_of=dt.date(2026, 11, 27))
    out = tmp_path / "run"
    argv = ["simulate", "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    assert main([*argv, "--paths", "200", "--workers", "1", "--as-of", "2026-11-27"]) == 0
    html = (out / "report.html").read_text()
    assert "If rates rise by 300 bp" in re.sub(r"<[^>]+>", "", html)
    assert len(re.findall(r"<svg ", html)) == 9
    assert write_report(out) == out / "report.html"
