"""Results: key figures, the scenario chart and the report location."""

from __future__ import annotations

from pathlib import Path

from montemap.console.reports import Reports
from montemap.console.results import (
    figures,
    format_number,
    parse_output,
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
    assert figures(CREDIT_OUTPUT) == [("loans", 1000), ("rejected", 2)]  # no paths or URLs
    assert figures([1, 2]) == [] and figures(None) == []
    assert parse_output("not json") is None


def test_scenarios_table_and_chart() -> None:
    columns, rows = scenarios(CREDIT_OUTPUT)
    assert columns == ["shock_bp", "expected_loss", "var", "defaults_flagged"]
    assert rows[1] == [200, 2500.0, 6000, 31]
    chart = str(scenario_chart(CREDIT_OUTPUT))
    assert chart.count('class="bar"') == 2 and "2,500" in chart
    assert str(scenario_chart({"scenarios": "nope"})) == ""


def test_nested_figures_are_flattened_and_numbers_formatted() -> None:
    output = {"scenarios": [{"shock_bp": 0, "var": {"0.99": 16759229.07, "0.999": 1.5}}]}
    columns, rows = scenarios(output)
    assert columns == ["shock_bp", "var 0.99", "var 0.999"]
    assert [format_number(v) for v in rows[0]] == ["0", "16,759,229.07", "1.5"]
    assert format_number(0.012345) == "0.01235" and format_number(None) == ""
    assert format_number(True) == "True" and format_number("<b>") == "<b>"


def test_chart_escapes_labels() -> None:
    output = {"scenarios": [{"shock_bp": "<b>x</b>", "expected_loss": 1}]}
    chart = str(scenario_chart(output))
    assert "<b>" not in chart and "&lt;b&gt;" in chart


def test_reports_only_from_the_runs_folder_or_beside_s3_results(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    reports = Reports(store, tmp_path)
    assert reports.object(CREDIT_OUTPUT) == ("results", "runs/r1/report.html")
    assert reports.object({"output_dir": "s3://results/runs/r2/"}) == (
        "results",
        "runs/r2/report.html",
    )
    for bad in ("s3://results/../summary.json", "s3://results/x.json", "/etc/passwd", 7):
        assert reports.object({"summary": bad}) is None
    assert not reports.exists(CREDIT_OUTPUT) and reports.read(CREDIT_OUTPUT) is None
    (tmp_path / "buckets" / "results").mkdir(parents=True)
    store.put("results", "runs/r1/report.html", b"<h1>report</h1>")
    assert reports.exists(CREDIT_OUTPUT) and reports.read(CREDIT_OUTPUT) == b"<h1>report</h1>"

    local = tmp_path / "runs" / "r3" / "report.html"
    local.parent.mkdir(parents=True)
    local.write_text("<h1>local</h1>")
    assert reports.read({"report": str(local)}) == b"<h1>local</h1>"
    (tmp_path / "runs" / "secret.txt").write_text("no")
    (tmp_path / "montemap.db").write_text("no")
    for bad in (
        "/etc/passwd",
        str(tmp_path / "runs" / "secret.txt"),
        str(tmp_path / "runs" / ".." / "montemap.db"),
        str(tmp_path / "runs" / "r3" / ".." / ".." / "report.html"),
    ):
        assert reports.file({"report": bad}) is None and reports.read({"report": bad}) is None
    assert not reports.exists({"report": str(tmp_path / "runs" / "r4" / "report.html")})
