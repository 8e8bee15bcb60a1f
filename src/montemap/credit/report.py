"""``report.html``: the run's results, readable offline, with charts as inline SVG.

:func:`write_report` reads ``summary.json`` (required) and ``loans.parquet`` (optional;
read a chunk at a time, a few columns; or its figures as the reduction that wrote it
computed them, when the same process reduced the run) from a run folder and writes a
self-contained page: a plain-language summary of what the rate rise does, the scenario
table, the loss distribution of each scenario with its VaR and expected shortfall
marked, default rates against the shock, breakdowns, the PD histogram and the loans
with the largest expected loss. No scripts, no external resources; every value that
comes from the data is escaped (Jinja2 autoescaping, ``markupsafe.escape`` in SVG).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from montemap.credit.report_charts import (
    Bound,
    grouped_bars,
    line_chart,
    loss_distribution_chart,
    pd_histogram_chart,
    scenario_colors,
)
from montemap.credit.report_format import bound, money, pct, shock_label
from montemap.credit.report_inputs import (
    LoanStats,
    ReportError,
    Scenario,
    load_summary,
    loan_stats,
)
from montemap.credit.report_loans import Figures
from montemap.credit.report_narrative import narrative
from montemap.credit.report_sections import build as build_sections

_BREAKDOWNS = (
    ("loan_type", "Loan type"),
    ("rate_type", "Rate type"),
    ("rate_bucket", "Current rate"),
    ("term", "Original term (months)"),
    ("size_band", "Balance"),
)


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One environment per process: it keeps the compiled template (compiling it is
    ~0.2 s of CPU), and checks the template file's time stamp before each use."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("montemap.credit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _compile_template() -> None:
    _environment().get_template("report.html.j2")


def render_report(
    summary: Mapping[str, Any],
    scenarios: Sequence[Scenario],
    stats: Mapping[int, LoanStats],
    top_loans: Sequence[Mapping[str, Any]],
    *,
    notes: Sequence[str] = (),
) -> str:
    """The HTML page for these inputs."""
    colors = scenario_colors([s.shock_bp for s in scenarios])
    charts: dict[str, Markup] = {}
    if any(s.loss_histogram for s in scenarios):
        charts["loss"] = loss_distribution_chart(scenarios, colors)
    charts["rates"] = _rates_chart(summary, scenarios)
    charts["el"] = _loss_chart(scenarios)
    breakdowns = _breakdown_charts(scenarios, colors)
    if any(s.pd_histogram for s in scenarios):
        charts["pd"] = pd_histogram_chart(scenarios, colors)
    worst = max(scenarios, key=lambda s: s.shock_bp)
    zip3 = sorted(
        worst.breakdowns.get("zip3", []), key=lambda e: -float(e.get("expected_loss") or 0.0)
    )[:10]
    template = _environment().get_template("report.html.j2")
    return template.render(
        summary=summary,
        scenarios=scenarios,
        colors=colors,
        stats=stats,
        charts=charts,
        breakdowns=breakdowns,
        paragraphs=narrative(summary, scenarios, stats),
        top_loans=top_loans,
        worst=worst,
        zip3=zip3,
        sections=build_sections(summary),
        notes=notes,
        money=money,
        bound=bound,
        pct=pct,
        shock_label=shock_label,
    )


def _rates_chart(summary: Mapping[str, Any], scenarios: Sequence[Scenario]) -> Markup:
    """Mean PDs, and the simulated default rate where the summary has one, against the shock."""
    rates = [
        ("mean PD (all channels)", [s.mean_pd for s in scenarios], "#c53030", ""),
        ("mean baseline PD0", [s.mean_pd0 for s in scenarios], "#718096", "6 3"),
    ]
    loans = int(summary.get("loans") or 0)
    if loans and any(s.default_mean for s in scenarios):
        rates.append(
            ("simulated default rate", [s.default_mean / loans for s in scenarios], "#2b6cb0", "")
        )
        if all(s.default_q99 is not None for s in scenarios):
            rates.append(
                (
                    "99th percentile default rate",
                    [(s.default_q99 or 0.0) / loans for s in scenarios],
                    "#2b6cb0",
                    "2 3",
                )
            )
    return line_chart(
        [float(s.shock_bp) for s in scenarios],
        rates,
        title="Default rate against the shock",
        xlabel="rate shock (bp)",
        yfmt=lambda v: pct(v, 1),
    )


def _loss_chart(scenarios: Sequence[Scenario]) -> Markup:
    """Expected loss and the VaRs against the shock, each with its 95% interval."""

    def el_band(s: Scenario) -> Bound:
        se = s.expected_loss_se
        return (
            (None, None)
            if se is None
            else (s.expected_loss - 1.96 * se, s.expected_loss + 1.96 * se)
        )

    def var_band(level: str) -> list[Bound] | None:
        if not all(level in s.var_ci for s in scenarios):
            return None  # summaries written before the intervals
        return [s.var_ci[level] for s in scenarios]

    return line_chart(
        [float(s.shock_bp) for s in scenarios],
        [
            ("expected loss", [s.expected_loss for s in scenarios], "#c53030", ""),
            ("VaR 99%", [s.var.get("0.99", 0.0) for s in scenarios], "#dd6b20", "6 3"),
            ("VaR 99.9%", [s.var.get("0.999", 0.0) for s in scenarios], "#822727", "2 2"),
        ],
        title="Loss against the shock (vertical lines: 95% intervals)",
        xlabel="rate shock (bp)",
        yfmt=money,
        intervals=[[el_band(s) for s in scenarios], var_band("0.99"), var_band("0.999")],
    )


def _breakdown_charts(scenarios: Sequence[Scenario], colors: Mapping[int, str]) -> list[Markup]:
    """Expected loss over exposure per group of each breakdown the first scenario has."""
    breakdowns = []
    for name, label in _BREAKDOWNS:
        groups = [e for e in scenarios[0].breakdowns.get(name, []) if "key" in e]
        if not groups:
            continue
        cats = [str(e["key"]) for e in groups]
        series = []
        for s in scenarios:
            by_key = {str(e.get("key")): e for e in s.breakdowns.get(name, [])}
            vals = []
            for c in cats:
                e = by_key.get(c, {})
                exp = float(e.get("exposure") or 0.0)
                vals.append(float(e.get("expected_loss") or 0.0) / exp if exp else 0.0)
            series.append((shock_label(s.shock_bp), vals, colors[s.shock_bp]))
        breakdowns.append(
            grouped_bars(
                cats, series, title=f"{label}: expected loss / exposure", yfmt=lambda v: pct(v, 1)
            )
        )
    return breakdowns


def write_report(out_dir: Path, loan_figures: Figures | None = None) -> Path:
    """Read ``summary.json`` and ``loans.parquet`` in ``out_dir``; write ``report.html``.

    ``loan_figures``: the per-loan figures of ``loans.parquet`` from the reduction that
    wrote it (``RunOutputs.loan_figures``), which then need not read the file back."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ReportError(f"{out_dir}: not a directory")
    summary, scenarios = load_summary(out_dir / "summary.json")
    notes: list[str] = []
    loans_path = out_dir / "loans.parquet"
    stats: dict[int, LoanStats] = {}
    top: list[dict] = []
    if loans_path.exists() and loan_figures is not None:
        stats, top = loan_stats(loans_path, [s.shock_bp for s in scenarios], loan_figures)
    elif loans_path.exists():
        # the template is compiled (pure Python) while Arrow's threads decode the loans
        compiling = threading.Thread(target=_compile_template, name="report-template")
        compiling.start()
        try:
            stats, top = loan_stats(loans_path, [s.shock_bp for s in scenarios])
        finally:
            compiling.join()
    else:
        notes.append("loans.parquet is missing: per-loan figures are left out.")
    html = render_report(summary, scenarios, stats, top, notes=notes)
    target = out_dir / "report.html"
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
