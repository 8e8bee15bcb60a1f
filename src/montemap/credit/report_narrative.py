"""The report's summary in plain language: what the largest rate rise does to expected
loss, the tail, the borrowers and the flagged loans, against the baseline.

Every value inserted into the text is escaped (``Markup.format``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from montemap.credit.report_format import money, pct, shock_label
from montemap.credit.report_inputs import DSCR_LINE, DTI_LINE, LoanStats, Scenario
from montemap.credit.report_sections import base_shock


def narrative(
    summary: Mapping[str, Any],
    scenarios: Sequence[Scenario],
    stats: Mapping[int, LoanStats],
) -> list[Markup]:
    """Plain-language paragraphs: what the largest rate rise does, against the baseline
    (the largest cut where every other scenario is below the baseline)."""
    base = next((s for s in scenarios if s.shock_bp == 0), scenarios[0])
    worst = max(scenarios, key=lambda s: s.shock_bp)
    if worst is base:
        worst = min(scenarios, key=lambda s: s.shock_bp)
    paths = int(summary.get("paths") or 0)
    out = [_portfolio(summary, base)]
    if worst is base:
        return [*out, _alone(base, paths)]
    move = "rise" if worst.shock_bp > base.shock_bp else "cut"
    out.append(_rise(base, worst, _paired(summary, base, worst)))
    if "0.999" in worst.var and "0.999" in base.var:
        out.append(_tail(base, worst, paths, _paired(summary, base, worst, "0.999"), move))
    s0, s1 = stats.get(base.shock_bp), stats.get(worst.shock_bp)
    if s0 is not None and s1 is not None and s1.loans:
        then = "today" if base.shock_bp == 0 else f"at {base.shock_bp:+d} bp"
        out += _borrowers(s0, s1, then, move)
    out.append(_flagged(summary, base, worst, move))
    if paths == 1:
        out.append(
            Markup(
                "With 1 path no figure has a standard error or an interval: raise "
                "<code>--paths</code>."
            )
        )
    elif paths and paths < 10_000:
        out.append(
            Markup(
                "With {paths} the tail figures carry Monte Carlo error: the table gives "
                "each VaR and ES with its 95% confidence interval (bootstrap over paths). "
                "Raise <code>--paths</code> to narrow them."
            ).format(paths=_paths(paths))
        )
    return out


def _paths(n: int) -> str:
    """``1 path``, ``1,000 paths``."""
    return f"{n:,} path" + ("" if n == 1 else "s")


def _interval(low: float | None, high: float | None) -> Markup:
    """``95% interval $1.2M to $1.5M``, a bound the paths cannot give as ``?``."""
    return Markup("95% interval {lo} to {hi}").format(
        lo="?" if low is None else money(low), hi="?" if high is None else money(high)
    )


def _alone(base: Scenario, paths: int) -> Markup:
    """The one scenario's expected loss and 99.9% VaR, each with its precision."""
    se = base.expected_loss_se
    el_prec = (
        Markup(", standard error {se}").format(se=money(se))
        if se is not None
        else Markup("; with one path its standard error is unknown")
    )
    var = base.var.get("0.999")
    if var is None:
        tail = Markup("")
    else:
        low, high = base.var_ci.get("0.999", (None, None))
        tail = Markup("; the 99.9% VaR is {var} ({ci})").format(
            var=money(var), ci=_interval(low, high)
        )
    return (
        Markup("Expected loss is <b>{el}</b> ({rate} of exposure{prec})").format(
            el=money(base.expected_loss),
            prec=el_prec,
            rate=pct(base.expected_loss / base.exposure if base.exposure else 0),
        )
        + tail
        + Markup(".")
        + _beyond((base,), paths)
    )


def _portfolio(summary: Mapping[str, Any], base: Scenario) -> Markup:
    """What the portfolio holds and what the model simulates."""
    loans = int(summary.get("loans") or 0)
    paths = int(summary.get("paths") or 0)
    return Markup(
        "On {as_of} the portfolio holds <b>{loans}</b> loans with <b>{exp}</b> outstanding "
        "({matured} matured loans left out, {rejected} records rejected). The model "
        "simulates each loan's default over the next 12 months, {paths} per scenario."
    ).format(
        as_of=summary.get("as_of", "the analysis date"),
        loans=f"{loans:,}",
        exp=money(base.exposure),
        matured=f"{int(summary.get('matured') or 0):,}",
        rejected=f"{int(summary.get('rejected') or 0):,}",
        paths="once" if paths == 1 else f"{paths:,} times",
    )


def _today(base: Scenario) -> str:
    """How the text names the scenario the rise is measured from."""
    return (
        "at today's rates"
        if base.shock_bp == 0
        else f"in the {shock_label(base.shock_bp)} scenario"
    )


def _paired(
    summary: Mapping[str, Any], base: Scenario, worst: Scenario, level: str | None = None
) -> tuple[float, float | None, float | None] | None:
    """The difference ``worst - base`` of expected loss (``level`` None) or of the VaR
    at ``level``, with its 95% interval, estimated on the same paths (``vs_base`` of
    summary.json): only where the narrative's base is the base of those differences."""
    raw = [sc for sc in summary.get("scenarios") or [] if isinstance(sc, dict)]
    if not raw or base_shock(raw) != base.shock_bp:
        return None
    sc = next((sc for sc in raw if sc.get("shock_bp") == worst.shock_bp), None)
    vb = sc.get("vs_base") if sc is not None else None
    if not isinstance(vb, dict):
        return None
    if level is None:
        value, ci = vb.get("expected_loss"), vb.get("expected_loss_ci")
    else:
        var, cis = vb.get("var"), vb.get("var_ci")
        value = var.get(level) if isinstance(var, dict) else None
        ci = cis.get(level) if isinstance(cis, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, high = ci if isinstance(ci, list) and len(ci) == 2 else (None, None)
    known = [x if isinstance(x, int | float) else None for x in (low, high)]
    return float(value), known[0], known[1]


def _precision(paired: tuple[float, float | None, float | None]) -> Markup:
    """`` (a difference of $X, 95% interval $A to $B on the same paths)``, saying when
    the interval includes 0 and when the paths cannot give it."""
    delta, low, high = paired
    if low is None and high is None:
        return Markup(
            " (a difference of {d}; with so few paths its 95% interval is unknown)"
        ).format(d=money(delta))
    noise = (low is None or low <= 0) and (high is None or high >= 0)
    return Markup(" (a difference of {d}, {ci} on the same paths{noise})").format(
        d=money(delta),
        ci=_interval(low, high),
        noise=Markup(": not distinguishable from no change") if noise else Markup(""),
    )


def _change(change: float) -> str:
    """``up 12%``; under 1% with one decimal (``up 0.4%``), so a small change does not
    read as none."""
    way = "up" if change >= 0 else "down"
    if 0 < abs(change) < 0.0005:  # would print as 0.0%
        return f"{way} less than 0.05%"
    digits = 0 if abs(change) >= 0.01 or change == 0 else 1
    return f"{way} {abs(change) * 100:.{digits}f}%"


def _rise(
    base: Scenario, worst: Scenario, paired: tuple[float, float | None, float | None] | None
) -> Markup:
    """Expected loss and mean PD before and after the largest rise, with the paired
    difference's 95% interval where the summary has it."""
    rise = worst.shock_bp - base.shock_bp
    change = worst.expected_loss / base.expected_loss - 1 if base.expected_loss else float("nan")
    if math.isfinite(change):
        chg = _change(change)
    elif worst.expected_loss == 0:
        chg = "no simulated path losing anything in either scenario"
    else:
        chg = "from no simulated loss"
    precision = Markup("")
    if paired is not None and (base.expected_loss or worst.expected_loss):
        precision = _precision(paired)
    lead = (
        Markup("If rates {move} by <b>{bp} bp</b> ({pp} percentage points)")
        if base.shock_bp == 0
        else Markup(
            "With rates <b>{bp} bp</b> ({pp} percentage points) higher than in the {b} scenario"
        )
    ).format(
        move="rise" if rise > 0 else "fall",
        bp=abs(rise),
        pp=f"{abs(rise) / 100:.2f}",
        b=shock_label(base.shock_bp),
    )
    return lead + Markup(
        ", expected loss goes from "
        "<b>{el0}</b> ({r0} of exposure) to <b>{el1}</b> ({r1}), {chg}{precision}. "
        "The average probability of default goes from {pd0} to {pd1}."
    ).format(
        el0=money(base.expected_loss),
        r0=pct(base.expected_loss / base.exposure if base.exposure else 0),
        el1=money(worst.expected_loss),
        r1=pct(worst.expected_loss / worst.exposure if worst.exposure else 0),
        chg=chg,
        precision=precision,
        pd0=pct(base.mean_pd),
        pd1=pct(worst.mean_pd),
    )


def _tail(
    base: Scenario,
    worst: Scenario,
    paths: int,
    paired: tuple[float, float | None, float | None] | None = None,
    move: str = "rise",
) -> Markup:
    """The 99.9% VaR and ES after the rise, against the base scenario's VaR, with the
    paired difference's 95% interval where the summary has it; said to be unresolved
    where the paths do not bound the VaR from above."""
    text = Markup(
        "In a bad year, one that comes once in a thousand (the 99.9% value at risk), the "
        "portfolio would lose <b>{v1}</b> after the {move}, against {v0} {today}{prec}; "
        "the average loss in the worst 1 in 1,000 years (expected shortfall) is {es}."
    ).format(
        v1=money(worst.var["0.999"]),
        move=move,
        v0=money(base.var["0.999"]),
        today=_today(base),
        prec=_precision(paired) if paired is not None else Markup(""),
        es=money(worst.es.get("0.999", worst.var["0.999"])),
    )
    return text + _beyond((base, worst), paths)


def _beyond(scenarios: Sequence[Scenario], paths: int) -> Markup:
    """A sentence where a 99.9% VaR has no upper bound (it is the largest path loss)."""
    if not any(s.var_ci.get("0.999", (0.0, 0.0))[1] is None for s in scenarios):
        return Markup("")
    return Markup(
        " These rest on the largest simulated loss alone: {paths} {verb} not reach "
        "that far into the tail, so the true values may be higher (raise "
        "<code>--paths</code>)."
    ).format(paths=_paths(paths), verb="does" if paths == 1 else "do")


def _borrowers(
    s0: LoanStats, s1: LoanStats, then: str = "today", move: str = "rise"
) -> list[Markup]:
    """What the rise does to payments and affordability lines, and the segment whose
    expected loss grows most (loan figures at the baseline ``s0`` and after ``s1``)."""
    out: list[Markup] = []
    parts = _affordability(s0, s1, then)
    if parts:
        out.append(
            Markup("After the {move}, ").format(move=move)
            + Markup("; ").join(parts)
            + Markup(
                ". Fixed-rate loans keep their payment and feel the {move} only through the "
                "economy."
            ).format(move=move)
        )
    deltas = {k: v - s0.segment_el.get(k, 0.0) for k, v in s1.segment_el.items()}
    if deltas:
        (lt, rt), delta = max(deltas.items(), key=lambda kv: kv[1])
        total = sum(deltas.values())
        if delta > 0 and total > 0:  # the per-loan figures, not the simulated paths
            out.append(
                Markup(
                    "The largest part of the increase in the loans' modelled expected loss "
                    "(stressed PD x LGD x exposure), <b>{d}</b> of {t}, comes from "
                    "<b>{rt} {lt}</b> loans."
                ).format(d=money(delta), t=money(total), rt=rt, lt=lt)
            )
    return out


def _affordability(s0: LoanStats, s1: LoanStats, then: str = "today") -> list[Markup]:
    """Clauses on variable-rate payments (against today's), personal DTI and commercial
    DSCR after the rise (against the base scenario, named by ``then``)."""
    parts = []
    if s1.variable:
        parts.append(
            Markup(
                "the <b>{n}</b> variable-rate borrowers pay on average <b>{chg}</b> {more} a "
                "month than today ({amt})"
            ).format(
                n=f"{s1.variable:,}",
                chg=pct(abs(s1.variable_payment_change), 1),
                more="more" if s1.variable_payment_change >= 0 else "less",
                amt=money(abs(s1.variable_payment_increase)),
            )
        )
    if s1.personal:
        parts.append(
            Markup(
                "{p1} of personal borrowers end up above the {line} debt-to-income line "
                "({then} {p0})"
            ).format(
                p1=pct(s1.personal_over_dti / s1.personal, 1),
                line=pct(DTI_LINE, 0),
                then=then,
                p0=pct(s0.personal_over_dti / s0.personal if s0.personal else 0, 1),
            )
        )
    if s1.commercial:
        parts.append(
            Markup(
                "{c1} of commercial loans fall under {line}x debt-service cover ({then} {c0})"
            ).format(
                c1=pct(s1.commercial_under_dscr / s1.commercial, 1),
                line=f"{DSCR_LINE:.2f}",
                then=then,
                c0=pct(s0.commercial_under_dscr / s0.commercial if s0.commercial else 0, 1),
            )
        )
    return parts


def _flagged(
    summary: Mapping[str, Any], base: Scenario, worst: Scenario, move: str = "rise"
) -> Markup:
    """How many loans are flagged ``WillDefault = YES`` after the rise and in the base
    scenario."""
    flagged = worst.flagged
    return Markup(
        "{n} {verb} flagged <code>WillDefault = YES</code> after the {move} (their simulated "
        "default frequency reaches the cut-off of {cut}), against {n0} {then}."
    ).format(
        n=f"{flagged:,}",
        verb="loan is" if flagged == 1 else "loans are",
        move=move,
        cut=summary.get("cutoff", 0.5),
        n0=f"{base.flagged:,}",
        then="at baseline" if base.shock_bp == 0 else _today(base),
    )
