"""The report's sections on precision, risk contributions, capital and data quality,
built from ``summary.json`` (rendered by ``templates/report_sections.html.j2``).

Every entry tolerates summaries written before these figures existed: a section whose
figures are absent is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LEVELS = ("0.99", "0.999")
SEGMENT_LABELS = {
    "loan_type": "Loan type",
    "rate_type": "Rate type",
    "region": "Region (first ZIP digit)",
    "score_band": "Credit score band",
}
#: The contribution figure the report lists (ES 99.9%: coherent, and what capital covers).
CONTRIBUTION_FIGURE = "es_0.999"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pair(value: Any, present: bool = True) -> tuple[float | None, float | None] | None:
    """An interval ``[low, high]``; a bound the run could not estimate (``null``) is
    ``None``, and a ``null`` interval that is present is ``(None, None)``."""
    if value is None and present:
        return None, None
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    if not all(x is None or isinstance(x, int | float) for x in value):
        return None
    return tuple(None if x is None else float(x) for x in value)  # type: ignore[return-value]


def base_shock(scenarios: Sequence[Mapping[str, Any]]) -> int:
    """The scenario ``vs_base`` is taken from: named there (``base_shock_bp``), else
    the first (summaries written before the base was the 0 bp scenario)."""
    for sc in scenarios:
        named = _dict(sc.get("vs_base")).get("base_shock_bp")
        if isinstance(named, int) and not isinstance(named, bool):
            return named
    return int(scenarios[0].get("shock_bp", 0)) if scenarios else 0


def vs_base_rows(scenarios: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario other than the base, by shock: the differences from the base scenario
    (same paths) of EL, VaR and ES at each level, each with its 95% interval."""
    rows = []
    base = base_shock(scenarios)
    for sc in scenarios:
        if sc.get("shock_bp") == base:
            continue
        vb = _dict(sc.get("vs_base"))
        if not vb:
            continue
        figures = [
            (
                "expected loss",
                vb.get("expected_loss"),
                _pair(vb.get("expected_loss_ci"), "expected_loss_ci" in vb),
            )
        ]
        for name, label in (("var", "VaR"), ("es", "ES")):
            for level in LEVELS:
                value = _dict(vb.get(name)).get(level)
                cis = _dict(vb.get(f"{name}_ci"))
                ci = _pair(cis.get(level), level in cis)
                figures.append((f"{label} {float(level) * 100:g}%", value, ci))
        rows.append(
            {
                "shock_bp": int(sc["shock_bp"]),
                "figures": [
                    {"label": label, "value": float(value), "ci": ci}
                    for label, value, ci in figures
                    if isinstance(value, int | float)
                ],
            }
        )
    return sorted(rows, key=lambda r: r["shock_bp"])  # the order of the scenario table


def contribution_view(sc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The top contributors and the segment contributions to ES 99.9% of one scenario."""
    figure = _dict(_dict(sc.get("contributions")).get(CONTRIBUTION_FIGURE))
    if not figure:
        return None
    segments = _dict(figure.get("segments"))
    return {
        "total": float(figure.get("total") or 0.0),
        "top": [e for e in figure.get("top") or [] if isinstance(e, dict)],
        "segments": [
            (SEGMENT_LABELS.get(name, name), [e for e in segments[name] if isinstance(e, dict)])
            for name in SEGMENT_LABELS
            if isinstance(segments.get(name), list)
        ],
    }


def capital_rows(scenarios: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario, by shock: IRB capital, RWA and economic capital (VaR - EL) at each
    level."""
    rows = []
    for sc in scenarios:
        if "irb_capital" not in sc:
            continue
        capital = float(sc["irb_capital"])
        rows.append(
            {
                "shock_bp": int(sc["shock_bp"]),
                "irb_capital": capital,
                "rwa": float(sc.get("rwa", 12.5 * capital)),
                "economic_capital": {
                    k: float(v) for k, v in _dict(sc.get("economic_capital")).items()
                },
            }
        )
    return sorted(rows, key=lambda r: r["shock_bp"])


def capital_segments(sc: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Per segmentation of one scenario: IRB capital, RWA and economic capital per segment."""
    segments = _dict(sc.get("capital_segments"))
    return [
        (SEGMENT_LABELS.get(name, name), [e for e in segments[name] if isinstance(e, dict)])
        for name in SEGMENT_LABELS
        if isinstance(segments.get(name), list)
    ]


def data_quality(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults applied, overrides, payment mismatches (with likely causes), rejects by
    reason and the number of matured loans (listed in ``matured.csv``)."""
    return {
        "defaults_applied": {
            k: int(v) for k, v in _dict(summary.get("defaults_applied")).items() if v
        },
        "overrides": {k: int(v) for k, v in _dict(summary.get("overrides")).items() if v},
        "payment_mismatch": int(summary.get("payment_mismatch") or 0),
        "mismatch_causes": _dict(summary.get("payment_mismatch_causes")),
        "mismatch_examples": [
            e for e in summary.get("payment_mismatch_examples") or [] if isinstance(e, dict)
        ],
        "rejected": int(summary.get("rejected") or 0),
        "rejects_by_reason": _dict(summary.get("rejects_by_reason")),
        "matured": int(summary.get("matured") or 0),
    }


def build(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the sections template needs."""
    raw = [sc for sc in summary.get("scenarios") or [] if isinstance(sc, dict)]
    worst = max(raw, key=lambda sc: int(sc.get("shock_bp", 0))) if raw else {}
    return {
        "estimator": summary.get("estimator"),
        "vs_base": vs_base_rows(raw),
        "base_shock": base_shock(raw),
        "worst_shock": int(worst.get("shock_bp", 0)),
        "contributions": contribution_view(worst) if worst else None,
        "capital": capital_rows(raw),
        "capital_segments": capital_segments(worst) if worst else [],
        "quality": data_quality(summary),
    }
