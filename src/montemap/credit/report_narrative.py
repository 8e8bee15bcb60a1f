"""The report's summary in plain language: what the largest rate rise does to expected
loss, the tail, the borrowers and the flagged loans, against the baseline.

Every value inserted into the text is escaped (``Markup.format``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from montemap.credit.report_format import money, pct
from montemap.credit.report_inputs import DSCR_LINE, DTI_LINE, LoanStats, Scenario


def narrative(
    summary: Mapping[str, Any],
    scenarios: Sequence[Scenario],
    stats: Mapping[int, LoanStats],
) -> list[Markup]:
    """Plain-language paragraphs: what the largest rate rise does, against the baseline."""
    base = next((s for s in scenarios if s.shock_bp == 0), scenarios[0])
    worst = max(scenarios, key=lambda s: s.shock_bp)
    out = [_portfolio(summary, base)]
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
    out.append(_rise(base, worst))
    if "0.999" in worst.var and "0.999" in base.var:
        out.append(_tail(base, worst))
    s0, s1 = stats.get(base.shock_bp), stats.get(worst.shock_bp)
    if s0 is not None and s1 is not None and s1.loans:
        out += _borrowers(s0, s1)
    out.append(_flagged(summary, base, worst))
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


def _portfolio(summary: Mapping[str, Any], base: Scenario) -> Markup:
    """What the portfolio holds and what the model simulates."""
    loans = int(summary.get("loans") or 0)
    return Markup(
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


def _rise(base: Scenario, worst: Scenario) -> Markup:
    """Expected loss and mean PD before and after the largest rise."""
    rise = worst.shock_bp - base.shock_bp
    change = worst.expected_loss / base.expected_loss - 1 if base.expected_loss else float("nan")
    return Markup(
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


def _tail(base: Scenario, worst: Scenario) -> Markup:
    """The 99.9% VaR and ES after the rise, against the baseline's VaR."""
    return Markup(
        "In a bad year, one that comes once in a thousand (the 99.9% value at risk), the "
        "portfolio would lose <b>{v1}</b> after the rise, against {v0} at today's rates; "
        "the average loss in the worst 1 in 1,000 years (expected shortfall) is {es}."
    ).format(
        v1=money(worst.var["0.999"]),
        v0=money(base.var["0.999"]),
        es=money(worst.es.get("0.999", worst.var["0.999"])),
    )


def _borrowers(s0: LoanStats, s1: LoanStats) -> list[Markup]:
    """What the rise does to payments and affordability lines, and the segment whose
    expected loss grows most (loan figures at the baseline ``s0`` and after ``s1``)."""
    out: list[Markup] = []
    parts = _affordability(s0, s1)
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
    return out


def _affordability(s0: LoanStats, s1: LoanStats) -> list[Markup]:
    """Clauses on variable-rate payments, personal DTI and commercial DSCR after the rise."""
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
    return parts


def _flagged(summary: Mapping[str, Any], base: Scenario, worst: Scenario) -> Markup:
    """How many loans are flagged ``WillDefault = YES`` after the rise and at baseline."""
    flagged = worst.flagged
    return Markup(
        "{n} {verb} flagged <code>WillDefault = YES</code> after the rise (their simulated "
        "default frequency reaches the cut-off of {cut}), against {n0} at baseline."
    ).format(
        n=f"{flagged:,}",
        verb="loan is" if flagged == 1 else "loans are",
        cut=summary.get("cutoff", 0.5),
        n0=f"{base.flagged:,}",
    )
