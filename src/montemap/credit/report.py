"""``report.html``: the run's results, readable offline, with charts as inline SVG.

:func:`write_report` reads ``summary.json`` (required) and ``loans.parquet`` (optional;
read one scenario at a time, a few columns) from a run folder and writes a
self-contained page: a plain-language summary of what the rate rise does, the scenario
table, the loss distribution of each scenario with its VaR and expected shortfall
marked, default rates against the shock, breakdowns, the PD histogram and the loans
with the largest expected loss. No scripts, no external resources; every value that
comes from the data is escaped (Jinja2 autoescaping, ``markupsafe.escape`` in SVG).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from markupsafe import Markup, escape

from montemap.credit.report_loans import scan_loans
from montemap.credit.report_sections import build as build_sections
from montemap.errors import MontemapError

DTI_LINE = 0.43
DSCR_LINE = 1.25
TOP_LOANS = 15
_BREAKDOWNS = (
    ("loan_type", "Loan type"),
    ("rate_type", "Rate type"),
    ("rate_bucket", "Current rate"),
    ("term", "Original term (months)"),
    ("size_band", "Balance"),
)
_LOAN_COLUMNS = [
    "key",
    "AccountID",
    "LoanType",
    "RateType",
    "shock_bp",
    "balance",
    "payment",
    "shocked_payment",
    "dti",
    "dscr",
    "crossed",
    "pd0",
    "pd_stressed",
    "expected_loss",
    "WillDefault",
]


class ReportError(MontemapError):
    """A run folder whose outputs cannot make a report (missing or malformed)."""


# --------------------------------------------------------------------------- formatting


def money(x: float) -> str:
    """Compact currency: $1.04B, $10.7M, $312K, $45."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= size:
            v = x / size
            return f"{sign}${v:,.{2 if v < 10 else 1}f}{unit}"
    return f"{sign}${x:,.0f}"


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def shock_label(bp: int) -> str:
    return "baseline (0 bp)" if bp == 0 else f"{bp:+d} bp"


def _num(obj: Mapping[str, Any], name: str, where: str) -> float:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(f"summary.json: {where}.{name} must be a finite number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- inputs


@dataclass
class Scenario:
    """One scenario's figures from summary.json."""

    shock_bp: int
    exposure: float
    expected_loss: float
    expected_loss_se: float
    unexpected_loss: float
    var: dict[str, float]
    es: dict[str, float]
    mean_pd: float
    mean_pd0: float
    flagged: int
    default_mean: float
    default_q99: float | None
    loss_histogram: tuple[list[float], list[int]] | None
    pd_histogram: tuple[list[float], list[int]] | None
    breakdowns: dict[str, list[dict[str, Any]]]
    var_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    es_ci: dict[str, tuple[float, float]] = field(default_factory=dict)


def _intervals(raw: Any) -> dict[str, tuple[float, float]]:
    """``{"0.99": [low, high]}`` entries that are well formed (older summaries have none)."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    for k, v in raw.items():
        if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v):
            out[str(k)] = (float(v[0]), float(v[1]))
    return out


@dataclass
class LoanStats:
    """Figures computed from loans.parquet for one scenario."""

    loans: int = 0
    variable: int = 0
    variable_payment_change: float = 0.0  # mean relative change
    variable_payment_increase: float = 0.0  # mean currency change
    personal: int = 0
    personal_over_dti: int = 0
    commercial: int = 0
    commercial_under_dscr: int = 0
    crossed: int = 0
    segment_el: dict[tuple[str, str], float] = field(default_factory=dict)


def load_summary(path: Path) -> tuple[dict[str, Any], list[Scenario]]:
    """summary.json and its scenarios, validated (a clear error names what is wrong)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (is this a run's output folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ReportError(f"{path}: expected a JSON object")
    raw = doc.get("scenarios")
    if not isinstance(raw, list) or not raw:
        raise ReportError(f"{path}: 'scenarios' must be a non-empty list")
    scenarios = [_scenario(s, i) for i, s in enumerate(raw)]
    scenarios.sort(key=lambda s: s.shock_bp)
    return doc, scenarios


def _scenario(raw: Any, i: int) -> Scenario:
    where = f"scenarios[{i}]"
    if not isinstance(raw, dict):
        raise ReportError(f"summary.json: {where} must be an object")
    shock = raw.get("shock_bp")
    if isinstance(shock, bool) or not isinstance(shock, int):
        raise ReportError(f"summary.json: {where}.shock_bp must be an integer, got {shock!r}")
    levels: dict[str, dict[str, float]] = {}
    for name in ("var", "es"):
        table = raw.get(name)
        if not isinstance(table, dict) or not table:
            raise ReportError(f"summary.json: {where}.{name} must be an object of levels")
        levels[name] = {str(k): _num(table, k, f"{where}.{name}") for k in table}
    counts = raw.get("default_count") if isinstance(raw.get("default_count"), dict) else {}
    assert isinstance(counts, dict)
    quantiles = counts.get("quantiles") if isinstance(counts.get("quantiles"), dict) else {}
    assert isinstance(quantiles, dict)
    q99 = quantiles.get("0.99")
    breakdowns = raw.get("breakdowns") if isinstance(raw.get("breakdowns"), dict) else {}
    assert isinstance(breakdowns, dict)
    return Scenario(
        shock_bp=shock,
        exposure=_num(raw, "exposure", where),
        expected_loss=_num(raw, "expected_loss", where),
        expected_loss_se=float(raw.get("expected_loss_se") or 0.0),
        unexpected_loss=float(raw.get("unexpected_loss") or 0.0),
        var=levels["var"],
        es=levels["es"],
        mean_pd=_num(raw, "mean_pd", where),
        mean_pd0=float(raw.get("mean_pd0") or 0.0),
        flagged=int(raw.get("defaults_flagged") or 0),
        default_mean=float(counts.get("mean") or 0.0),
        default_q99=float(q99) if isinstance(q99, int | float) else None,
        loss_histogram=_histogram(raw.get("loss_histogram"), f"{where}.loss_histogram"),
        pd_histogram=_histogram(raw.get("pd_histogram"), f"{where}.pd_histogram"),
        breakdowns={
            k: [e for e in v if isinstance(e, dict)]
            for k, v in breakdowns.items()
            if isinstance(v, list)
        },
        var_ci=_intervals(raw.get("var_ci")),
        es_ci=_intervals(raw.get("es_ci")),
    )


def _histogram(raw: Any, where: str) -> tuple[list[float], list[int]] | None:
    if raw is None:
        return None
    edges = raw.get("edges") if isinstance(raw, dict) else None
    counts = raw.get("counts") if isinstance(raw, dict) else None
    if (
        not isinstance(edges, list)
        or not isinstance(counts, list)
        or len(edges) != len(counts) + 1
        or not counts
        or not all(isinstance(e, int | float) and math.isfinite(e) for e in edges)
        or not all(isinstance(c, int | float) and c >= 0 for c in counts)
    ):
        raise ReportError(f"summary.json: {where} needs 'edges' (n+1 numbers) and 'counts' (n)")
    return [float(e) for e in edges], [int(c) for c in counts]


def loan_stats(path: Path, shocks: Sequence[int]) -> tuple[dict[int, LoanStats], list[dict]]:
    """Per-scenario figures from loans.parquet, and the top loans at the largest shock."""
    try:
        file = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path}: not a readable Parquet file: {exc}") from None
    try:
        missing = [c for c in _LOAN_COLUMNS if c not in file.schema_arrow.names]
        if missing:
            raise ReportError(f"{path}: missing column(s) {', '.join(missing)}")
    finally:
        file.close()
    try:
        figures, top = scan_loans(
            path, shocks, _LOAN_COLUMNS, top=TOP_LOANS, lines=(DTI_LINE, DSCR_LINE)
        )
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    return {shock: LoanStats(**f) for shock, f in figures.items()}, top


# --------------------------------------------------------------------------- SVG


_PALETTE = ["#2b6cb0", "#d69e2e", "#dd6b20", "#c53030", "#822727", "#553c9a", "#2f855a"]


def scenario_colors(shocks: Sequence[int]) -> dict[int, str]:
    """Baseline blue, then warmer colours as the shock grows."""
    return {s: _PALETTE[min(i, len(_PALETTE) - 1)] for i, s in enumerate(sorted(shocks))}


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    count = math.ceil((hi - first) / step - 1e-9)
    ticks = [round(first + i * step, 12) for i in range(count + 1)]
    return ticks


def _text(x: float, y: float, s: str, *, anchor: str = "middle", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(s)}</text>'


@dataclass
class _Frame:
    """A plot area with linear scales, axes and gridlines."""

    width: float
    height: float
    x0: float
    x1: float
    y0: float
    y1: float
    left: float = 70
    right: float = 20
    top: float = 28
    bottom: float = 42

    def x(self, v: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (v - self.x0) / span * (self.width - self.left - self.right)

    def y(self, v: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return (
            self.height
            - self.bottom
            - (v - self.y0) / span * (self.height - self.top - self.bottom)
        )

    def axes(
        self,
        xticks: Sequence[tuple[float, str]],
        yticks: Sequence[tuple[float, str]],
        xlabel: str = "",
        ylabel: str = "",
    ) -> list[str]:
        out = []
        for v, label in yticks:
            y = self.y(v)
            out.append(
                f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{y:.1f}" '
                f'y2="{y:.1f}" class="grid"/>'
            )
            out.append(_text(self.left - 6, y + 4, label, anchor="end"))
        base = self.height - self.bottom
        out.append(
            f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{base}" y2="{base}" '
            'class="axis"/>'
        )
        for v, label in xticks:
            x = self.x(v)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" class="axis"/>'
            )
            out.append(_text(x, base + 17, label))
        if xlabel:
            out.append(_text((self.left + self.width - self.right) / 2, self.height - 6, xlabel))
        if ylabel:
            out.append(_text(self.left, self.top - 10, ylabel, anchor="start", cls="unit"))
        return out


def _svg(width: float, height: float, body: Sequence[str], title: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _legend(items: Sequence[tuple[str, str, str]], x: float, y: float) -> list[str]:
    """(label, colour, dash) entries in a row starting at (x, y)."""
    out = []
    for label, color, dash in items:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x:.1f}" x2="{x + 18:.1f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
            f'stroke="{color}" stroke-width="3"{dash_attr}/>'
        )
        out.append(_text(x + 22, y, label, anchor="start"))
        x += 30 + 7 * len(label)
    return out


def loss_distribution_chart(scenarios: Sequence[Scenario], colors: Mapping[int, str]) -> Markup:
    """One histogram of path losses per scenario on a shared axis; EL, VaR and ES marked."""
    shown = [s for s in scenarios if s.loss_histogram]
    width, panel = 900.0, 130.0
    height = 30 + panel * len(shown) + 24
    xmax = max(
        max(s.loss_histogram[0][-1] for s in shown if s.loss_histogram),
        max(max(s.es.values()) for s in shown),
    )
    xticks = [(v, money(v)) for v in nice_ticks(0.0, xmax, 6)]
    xmax = max(xmax, xticks[-1][0])
    body = _legend(
        [
            ("expected loss", "#222", ""),
            ("VaR 99%", "#222", "6 3"),
            ("VaR 99.9%", "#222", "2 2"),
            ("ES 99.9%", "#718096", "1 3"),
        ],
        70,
        18,
    )
    for i, s in enumerate(shown):
        edges, counts = s.loss_histogram  # type: ignore[misc]
        top = 30 + i * panel
        ytop = nice_ticks(0, max(counts) or 1, 2)[-1]
        frame = _Frame(width, top + panel, 0.0, xmax, 0.0, ytop, top=top + 30, bottom=22)
        color = colors[s.shock_bp]
        body.append(
            _text(frame.left, top + 12, shock_label(s.shock_bp), anchor="start", cls="panel")
        )
        yticks = [(v, f"{v:,.0f}") for v in nice_ticks(0, max(counts) or 1, 2)]
        body.append(_text(frame.left - 6, top + 12, "paths", anchor="end", cls="unit"))
        last = i == len(shown) - 1
        body.extend(frame.axes(xticks if last else [(v, "") for v, _ in xticks], yticks))
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
            if c:
                x, w = frame.x(lo), max(frame.x(hi) - frame.x(lo) - 0.5, 0.8)
                body.append(
                    f'<rect x="{x:.1f}" y="{frame.y(c):.1f}" width="{w:.1f}" '
                    f'height="{frame.y(0) - frame.y(c):.1f}" fill="{color}" opacity="0.75"/>'
                )
        marks = [(s.expected_loss, "#222", "")]
        marks += [
            (v, "#222", d)
            for k, d in (("0.99", "6 3"), ("0.999", "2 2"))
            if (v := s.var.get(k)) is not None
        ]
        if (es := s.es.get("0.999")) is not None:
            marks.append((es, "#718096", "1 3"))
        for v, c, dash in marks:
            x = frame.x(v)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top - 4:.1f}" '
                f'y2="{frame.y(0):.1f}" stroke="{c}" stroke-width="1.6"{dash_attr}/>'
            )
    body.append(_text(width / 2, height - 6, "loss over 12 months (bars: paths per loss bucket)"))
    return _svg(width, height, body, "Loss distribution per scenario")


def line_chart(
    x: Sequence[float],
    series: Sequence[tuple[str, Sequence[float], str, str]],
    *,
    title: str,
    xlabel: str,
    yfmt: Callable[[float], str],
    xfmt: Callable[[float], str] = lambda v: f"{v:+.0f}",
) -> Markup:
    """Lines (label, values, colour, dash) against ``x``, with points."""
    width, height = 900.0, 320.0
    values = [v for _, vs, _, _ in series for v in vs]
    ymax = max(values) if values else 1.0
    yticks = nice_ticks(0.0, ymax * 1.1 or 1.0, 5)
    frame = _Frame(
        width, height, min(x), max(x) if max(x) > min(x) else min(x) + 1, 0.0, yticks[-1], top=48
    )
    body = frame.axes([(v, xfmt(v)) for v in x], [(v, yfmt(v)) for v in yticks], xlabel=xlabel)
    body += _legend([(label, color, dash) for label, _, color, dash in series], frame.left, 18)
    for _label, vs, color, dash in series:
        pts = " ".join(f"{frame.x(a):.1f},{frame.y(b):.1f}" for a, b in zip(x, vs, strict=True))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.5"{dash_attr}/>'
        )
        for a, b in zip(x, vs, strict=True):
            body.append(
                f'<circle cx="{frame.x(a):.1f}" cy="{frame.y(b):.1f}" r="3.5" fill="{color}">'
                f"<title>{escape(xfmt(a))}: {escape(yfmt(b))}</title></circle>"
            )
    return _svg(width, height, body, title)


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    yfmt: Callable[[float], str],
    width: float = 440.0,
) -> Markup:
    """Bars per category, one per series (label, values, colour)."""
    height = 260.0
    ymax = max((v for _, vs, _ in series for v in vs), default=0.0)
    yticks = nice_ticks(0.0, ymax * 1.1 or 1.0, 4)
    frame = _Frame(width, height, 0.0, float(len(categories)), 0.0, yticks[-1], left=58, top=30)
    body = [_text(frame.left, 16, title, anchor="start", cls="panel")]
    body += frame.axes([], [(v, yfmt(v)) for v in yticks])
    slot = (frame.x(1) - frame.x(0)) * 0.8
    bar = slot / max(len(series), 1)
    for i, cat in enumerate(categories):
        x0 = frame.x(i) + (frame.x(1) - frame.x(0)) * 0.1
        for j, (label, vs, color) in enumerate(series):
            v = vs[i]
            body.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{frame.y(v):.1f}" width="{max(bar - 1, 0.5):.1f}" '
                f'height="{frame.y(0) - frame.y(v):.1f}" fill="{color}">'
                f"<title>{escape(cat)}, {escape(label)}: {escape(yfmt(v))}</title></rect>"
            )
        body.append(_text(frame.x(i + 0.5), height - frame.bottom + 16, cat))
    return _svg(width, height, body, title)


def pd_histogram_chart(scenarios: Sequence[Scenario], colors: Mapping[int, str]) -> Markup:
    """Share of loans per PD bucket (log-spaced buckets), one step line per scenario."""
    shown = [s for s in scenarios if s.pd_histogram]
    width, height = 900.0, 320.0
    edges = shown[0].pd_histogram[0]  # type: ignore[index]
    n = len(edges) - 1
    shares = []
    for s in shown:
        counts = np.asarray(s.pd_histogram[1], float)  # type: ignore[index]
        shares.append(counts / counts.sum() if counts.sum() else counts)
    ymax = max(float(v.max()) for v in shares)
    yticks = nice_ticks(0.0, ymax * 1.1 or 1.0, 5)
    frame = _Frame(width, height, 0.0, float(n), 0.0, yticks[-1], top=48)
    step = max(1, n // 8)
    xticks = [(float(i), pct(edges[i], 2 if edges[i] < 0.01 else 1)) for i in range(0, n + 1, step)]
    body = frame.axes(xticks, [(v, pct(v, 1)) for v in yticks], xlabel="12-month PD (log scale)")
    body += _legend(
        [(shock_label(s.shock_bp), colors[s.shock_bp], "") for s in shown], frame.left, 18
    )
    for s, share in zip(shown, shares, strict=True):
        if len(share) != n:
            continue
        pts = []
        for i, v in enumerate(share):
            pts += [f"{frame.x(i):.1f},{frame.y(v):.1f}", f"{frame.x(i + 1):.1f},{frame.y(v):.1f}"]
        body.append(
            f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colors[s.shock_bp]}" '
            'stroke-width="2"/>'
        )
    return _svg(width, height, body, "PD histogram")


# --------------------------------------------------------------------------- narrative


def narrative(
    summary: Mapping[str, Any],
    scenarios: Sequence[Scenario],
    stats: Mapping[int, LoanStats],
) -> list[Markup]:
    """Plain-language paragraphs: what the largest rate rise does, against the baseline."""
    base = next((s for s in scenarios if s.shock_bp == 0), scenarios[0])
    worst = max(scenarios, key=lambda s: s.shock_bp)
    out: list[Markup] = []
    loans = int(summary.get("loans") or 0)
    out.append(
        Markup(
            "On {as_of} the portfolio holds <b>{loans}</b> loans with <b>{exp}</b> outstanding "
            "({matured} matured loans left out, {rejected} records rejected). The model "
            "simulates each loan's default over the next 12 months, {paths} times per scenario."
        ).format(
            as_of=summary.get("as_of", "the analysis date"),
            loans=f"{loans:,}",
            exp=money(base.exposure),
            matured=f"{int(summary.get('matured') or 0):,}",
            rejected=f"{int(summary.get('rejected') or 0):,}",
            paths=f"{int(summary.get('paths') or 0):,}",
        )
    )
    if worst is base:
        out.append(
            Markup(
                "Expected loss is <b>{el}</b> ({rate} of exposure); the 99.9% VaR is {var}."
            ).format(
                el=money(base.expected_loss),
                rate=pct(base.expected_loss / base.exposure if base.exposure else 0),
                var=money(base.var.get("0.999", float("nan"))),
            )
        )
        return out
    rise = worst.shock_bp - base.shock_bp
    change = worst.expected_loss / base.expected_loss - 1 if base.expected_loss else float("nan")
    out.append(
        Markup(
            "If rates rise by <b>{bp} bp</b> ({pp} percentage points), expected loss goes from "
            "<b>{el0}</b> ({r0} of exposure) to <b>{el1}</b> ({r1}), {chg}. "
            "The average probability of default goes from {pd0} to {pd1}."
        ).format(
            bp=rise,
            pp=f"{rise / 100:.2f}",
            el0=money(base.expected_loss),
            r0=pct(base.expected_loss / base.exposure if base.exposure else 0),
            el1=money(worst.expected_loss),
            r1=pct(worst.expected_loss / worst.exposure if worst.exposure else 0),
            chg=f"{'up' if change >= 0 else 'down'} {abs(change) * 100:.0f}%"
            if math.isfinite(change)
            else "from none",
            pd0=pct(base.mean_pd),
            pd1=pct(worst.mean_pd),
        )
    )
    if "0.999" in worst.var and "0.999" in base.var:
        out.append(
            Markup(
                "In a bad year, one that comes once in a thousand (the 99.9% value at risk), the "
                "portfolio would lose <b>{v1}</b> after the rise, against {v0} at today's rates; "
                "the average loss in the worst 1 in 1,000 years (expected shortfall) is {es}."
            ).format(
                v1=money(worst.var["0.999"]),
                v0=money(base.var["0.999"]),
                es=money(worst.es.get("0.999", worst.var["0.999"])),
            )
        )
    s0, s1 = stats.get(base.shock_bp), stats.get(worst.shock_bp)
    if s0 is not None and s1 is not None and s1.loans:
        parts = []
        if s1.variable:
            parts.append(
                Markup(
                    "the <b>{n}</b> variable-rate borrowers pay on average <b>{chg}</b> more a "
                    "month ({amt})"
                ).format(
                    n=f"{s1.variable:,}",
                    chg=pct(s1.variable_payment_change, 1),
                    amt=money(s1.variable_payment_increase),
                )
            )
        if s1.personal:
            parts.append(
                Markup(
                    "{p1} of personal borrowers end up above the {line} debt-to-income line "
                    "(today {p0})"
                ).format(
                    p1=pct(s1.personal_over_dti / s1.personal, 1),
                    line=pct(DTI_LINE, 0),
                    p0=pct(s0.personal_over_dti / s0.personal if s0.personal else 0, 1),
                )
            )
        if s1.commercial:
            parts.append(
                Markup(
                    "{c1} of commercial loans fall under {line}x debt-service cover (today {c0})"
                ).format(
                    c1=pct(s1.commercial_under_dscr / s1.commercial, 1),
                    line=f"{DSCR_LINE:.2f}",
                    c0=pct(s0.commercial_under_dscr / s0.commercial if s0.commercial else 0, 1),
                )
            )
        if parts:
            out.append(
                Markup("After the rise, ")
                + Markup("; ").join(parts)
                + Markup(
                    ". Fixed-rate loans keep their payment and feel the rise only through the economy."
                )
            )
        deltas = {k: v - s0.segment_el.get(k, 0.0) for k, v in s1.segment_el.items()}
        if deltas:
            (lt, rt), delta = max(deltas.items(), key=lambda kv: kv[1])
            total = sum(deltas.values())
            out.append(
                Markup(
                    "The largest part of the increase in expected loss, <b>{d}</b> of {t}, comes "
                    "from <b>{rt} {lt}</b> loans."
                ).format(d=money(delta), t=money(total), rt=rt, lt=lt)
            )
    flagged = worst.flagged
    out.append(
        Markup(
            "{n} {verb} flagged <code>WillDefault = YES</code> after the rise (their simulated "
            "default frequency reaches the cut-off of {cut}), against {n0} at baseline."
        ).format(
            n=f"{flagged:,}",
            verb="loan is" if flagged == 1 else "loans are",
            cut=summary.get("cutoff", 0.5),
            n0=f"{base.flagged:,}",
        )
    )
    paths = int(summary.get("paths") or 0)
    if paths and paths < 10_000:
        out.append(
            Markup(
                "With {paths} paths the tail figures carry Monte Carlo error: the table gives "
                "each VaR and ES with its 95% confidence interval (bootstrap over paths). "
                "Raise <code>--paths</code> to narrow them."
            ).format(paths=f"{paths:,}")
        )
    return out


# --------------------------------------------------------------------------- page


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("montemap.credit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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
    shocks = [float(s.shock_bp) for s in scenarios]
    charts: dict[str, Markup] = {}
    if any(s.loss_histogram for s in scenarios):
        charts["loss"] = loss_distribution_chart(scenarios, colors)
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
    charts["rates"] = line_chart(
        shocks,
        rates,
        title="Default rate against the shock",
        xlabel="rate shock (bp)",
        yfmt=lambda v: pct(v, 1),
    )
    charts["el"] = line_chart(
        shocks,
        [
            ("expected loss", [s.expected_loss for s in scenarios], "#c53030", ""),
            ("VaR 99%", [s.var.get("0.99", 0.0) for s in scenarios], "#dd6b20", "6 3"),
            ("VaR 99.9%", [s.var.get("0.999", 0.0) for s in scenarios], "#822727", "2 2"),
        ],
        title="Loss against the shock",
        xlabel="rate shock (bp)",
        yfmt=money,
    )
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
        pct=pct,
        shock_label=shock_label,
    )


def write_report(out_dir: Path) -> Path:
    """Read ``summary.json`` and ``loans.parquet`` in ``out_dir``; write ``report.html``."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ReportError(f"{out_dir}: not a directory")
    summary, scenarios = load_summary(out_dir / "summary.json")
    notes: list[str] = []
    loans_path = out_dir / "loans.parquet"
    stats: dict[int, LoanStats] = {}
    top: list[dict] = []
    if loans_path.exists():
        stats, top = loan_stats(loans_path, [s.shock_bp for s in scenarios])
    else:
        notes.append("loans.parquet is missing: per-loan figures are left out.")
    html = render_report(summary, scenarios, stats, top, notes=notes)
    target = out_dir / "report.html"
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
