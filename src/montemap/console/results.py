"""An execution's results: key figures from its output and a scenario chart.

The credit workflow's output is ``{"run", "loans", "rejected", "output_dir",
"report", "scenarios": [{"shock_bp", "expected_loss", "var", "es",
"defaults_flagged"}, ...]}``; any other output still shows its top-level
numbers and strings as figures. Its report is found by
:mod:`montemap.console.reports`.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape

MAX_FIGURES = 12
MAX_ROWS = 50
CHART_W, CHART_H, CHART_PAD = 520, 220, 44


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (
        isinstance(value, str) and len(value) > 200
    )


def parse_output(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def figures(output: Any) -> list[tuple[str, Any]]:
    """Top-level numbers and short strings of an object output (not paths or URLs)."""
    if not isinstance(output, dict):
        return []
    return [
        (str(k), v)
        for k, v in output.items()
        if _scalar(v) and not (isinstance(v, str) and "/" in v)
    ][:MAX_FIGURES]


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A scenario row with one level of nested scalars flattened (``var 0.99``)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if _scalar(value):
            out[str(key)] = value
        elif isinstance(value, dict):
            out.update({f"{key} {k}": v for k, v in value.items() if _scalar(v)})
    return out


def scenarios(output: Any) -> tuple[list[str], list[list[Any]]]:
    """The ``scenarios`` table of an output: column names and rows of scalars."""
    rows = output.get("scenarios") if isinstance(output, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return [], []
    flat = [_flat(row) for row in rows[:MAX_ROWS]]
    columns: list[str] = []
    for row in flat:
        columns += [k for k in row if k not in columns]
    return columns, [[row.get(c) for c in columns] for row in flat]


def format_number(value: Any) -> str:
    """``1,944``; ``3,954,186.59``; ``0.01234``; other values as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def scenario_chart(output: Any, x_key: str = "shock_bp", y_key: str = "expected_loss") -> Markup:
    """A bar chart of ``y_key`` against ``x_key`` across the scenarios, or empty markup."""
    rows = output.get("scenarios") if isinstance(output, dict) else None
    if not isinstance(rows, list):
        return Markup("")
    points = [
        (r.get(x_key), _number(r.get(y_key)))
        for r in rows[:MAX_ROWS]
        if isinstance(r, dict) and _number(r.get(y_key)) is not None
    ]
    if not points:
        return Markup("")
    top = max(y for _, y in points if y is not None) or 1.0
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    slot = inner_w / len(points)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_W} {CHART_H}"'
        f' width="{CHART_W}" height="{CHART_H}" role="img"'
        f' aria-label="{escape(y_key)} by {escape(x_key)}">',
        f'<text class="axis" x="{CHART_PAD}" y="{CHART_PAD - 18}">{escape(y_key)}'
        f" by {escape(x_key)}</text>",
        f'<line class="axis" x1="{CHART_PAD}" y1="{CHART_H - CHART_PAD}"'
        f' x2="{CHART_W - CHART_PAD}" y2="{CHART_H - CHART_PAD}"/>',
    ]
    for i, (x, y) in enumerate(points):
        assert y is not None
        height = max(0.0, y / top * inner_h) if top > 0 else 0.0
        left = CHART_PAD + i * slot + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{left:.1f}" y="{CHART_H - CHART_PAD - height:.1f}"'
            f' width="{slot * 0.7:.1f}" height="{height:.1f}"><title>{escape(x)}: {y:,.2f}'
            "</title></rect>"
            f'<text x="{left + slot * 0.35:.1f}" y="{CHART_H - CHART_PAD + 16}">{escape(x)}</text>'
            f'<text class="value" x="{left + slot * 0.35:.1f}"'
            f' y="{CHART_H - CHART_PAD - height - 4:.1f}">{y:,.0f}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
