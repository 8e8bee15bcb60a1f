"""The report's charts as inline SVG: the loss distribution per scenario, line charts
against the shock, grouped bars per breakdown and the PD histogram.

Every text that comes from the data is escaped (``markupsafe.escape``); a chart is a
:class:`~markupsafe.Markup` the page template inserts as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

from montemap.credit.report_format import money, pct, shock_label
from montemap.credit.report_inputs import Scenario

#: A 95% interval, a bound the run could not give None.
Bound = tuple[float | None, float | None]

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
    intervals: Sequence[Sequence[Bound] | None] | None = None,
) -> Markup:
    """Lines (label, values, colour, dash) against ``x``, with points; ``intervals``
    (per series, per point: the 95% interval, a bound the run could not give None)
    are drawn as whiskers, an unknown upper bound dotted to the top of the chart."""
    width, height = 900.0, 320.0
    bands = list(intervals or [])
    values = [v for _, vs, _, _ in series for v in vs]
    values += [b for band in bands if band for pair in band for b in pair if b is not None]
    ymax = max(values) if values else 1.0
    yticks = nice_ticks(0.0, ymax * 1.1 or 1.0, 5)
    frame = _Frame(
        width, height, min(x), max(x) if max(x) > min(x) else min(x) + 1, 0.0, yticks[-1], top=48
    )
    body = frame.axes([(v, xfmt(v)) for v in x], [(v, yfmt(v)) for v in yticks], xlabel=xlabel)
    body += _legend([(label, color, dash) for label, _, color, dash in series], frame.left, 18)
    for i, (_label, vs, color, dash) in enumerate(series):
        band = bands[i] if i < len(bands) else None
        if band:
            body += _whiskers(frame, x, vs, band, color, (xfmt, yfmt))
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


def _whiskers(
    frame: _Frame,
    x: Sequence[float],
    values: Sequence[float],
    band: Sequence[Bound],
    color: str,
    fmts: tuple[Callable[[float], str], Callable[[float], str]],
) -> list[str]:
    """A vertical 95% interval at each point (dotted up to the frame's top where the
    upper bound is unknown), with the interval in its tooltip."""
    xfmt, yfmt = fmts
    out = []
    for a, v, (lo, hi) in zip(x, values, band, strict=True):
        cx = frame.x(a)
        y_lo = frame.y(lo if lo is not None else v)
        y_hi = frame.y(hi) if hi is not None else frame.top
        dots = ' stroke-dasharray="1 3"' if hi is None or lo is None else ""
        tip = f"{xfmt(a)}: 95% interval {_fmt(lo, yfmt)} to {_fmt(hi, yfmt)}"
        out.append(
            f'<line x1="{cx:.1f}" y1="{y_lo:.1f}" x2="{cx:.1f}" y2="{y_hi:.1f}" '
            f'stroke="{color}" stroke-width="1.5" opacity="0.6"{dots}>'
            f"<title>{escape(tip)}</title></line>"
        )
    return out


def _fmt(v: float | None, fmt: Callable[[float], str]) -> str:
    return "?" if v is None else fmt(v)


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
