"""Results: key figures, the scenario chart and the report location."""

from __future__ import annotations

from pathlib import Path

from montemap.console.results import (
    figures,
    parse_output,
    read_report,
    report_exists,
    report_location,
    scenario_chart,
    scenarios,
)
from montemap.storage import LocalObjectStore

CREDIT_OUTPUT = {
    "loans": 1000,
    "rejected": 2,
    "summary": "s3://results/runs/r1/summary.json",
    "scenarios": [
        {"shock_bp": 0, "expected_loss": 1200.5, "var": 3000, "defaults_flagged": 10},
        {"shock_bp": 200, "expected_loss": 2500.0, "var": 6000, "defaults_flagged": 31},
    ],
}


def test_figures_are_top_level_scalars() -> None:
    assert figures(CREDIT_OUTPUT) == [
        ("loans", 1000),
        ("rejected", 2),
        ("summary", "s3://results/runs/r1/summary.json"),
    ]
    assert figures([1, 2]) == [] and figures(None) == []
    assert parse_output("not json") is None


def test_scenarios_table_and_chart() -> None:
    columns, rows = scenarios(CREDIT_OUTPUT)
    assert columns == ["shock_bp", "expected_loss", "var", "defaults_flagged"]
    assert rows[1] == [200, 2500.0, 6000, 31]
    chart = str(scenario_chart(CREDIT_OUTPUT))
    assert chart.count('class="bar"') == 2 and "2,500" in chart
    assert str(scenario_chart({"scenarios": "nope"})) == ""


def test_chart_escapes_labels() -> None:
    output = {"scenarios": [{"shock_bp": "<b>x</b>", "expected_loss": 1}]}
    chart = str(scenario_chart(output))
    assert "<b>" not in chart and "&lt;b&gt;" in chart


def test_report_location_only_beside_a_summary() -> None:
    assert report_location(CREDIT_OUTPUT) == ("results", "runs/r1/report.html")
    for bad in (
        "s3://results/../summary.json",
        "s3://results/x.json",
        "/etc/passwd",
        7,
        "s3:///summary.json",
    ):
        assert report_location({"summary": bad}) is None


def test_report_is_read_from_the_store(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    assert not report_exists(store, CREDIT_OUTPUT)
    (tmp_path / "results").mkdir()
    store.put("results", "runs/r1/report.html", b"<h1>report</h1>")
    assert report_exists(store, CREDIT_OUTPUT)
    assert read_report(store, CREDIT_OUTPUT) == b"<h1>report</h1>"
    assert read_report(None, CREDIT_OUTPUT) is None
