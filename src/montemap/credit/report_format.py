"""How the report writes numbers: compact currency, percentages and shock labels.

Shared by the page template, the narrative and the charts, so a figure reads the same
everywhere in ``report.html``.
"""

from __future__ import annotations

from markupsafe import Markup

#: What the report writes for an interval bound or SE the paths cannot give.
UNKNOWN = Markup(
    '<span class="unknown" title="not resolved by the simulated paths (too few in the '
    'tail): raise --paths">?</span>'
)


def money(x: float) -> str:
    """Compact currency: $1.04B, $10.7M, $312K, $45."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= size:
            v = x / size
            return f"{sign}${v:,.{2 if v < 10 else 1}f}{unit}"
    return f"{sign}${x:,.0f}"


def bound(x: float | None) -> str:
    """:func:`money`, or :data:`UNKNOWN` for a bound or SE the run could not estimate."""
    return UNKNOWN if x is None else money(x)


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def shock_label(bp: int) -> str:
    return "baseline (0 bp)" if bp == 0 else f"{bp:+d} bp"
