"""How the report writes numbers: compact currency, percentages and shock labels.

Shared by the page template, the narrative and the charts, so a figure reads the same
everywhere in ``report.html``.
"""

from __future__ import annotations


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
