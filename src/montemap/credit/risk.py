"""Per-scenario risk figures built on the path losses: differences from the base
scenario, and Euler contributions of loans and segments (``contributions.parquet``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from montemap.credit.contributions import (
    SCORE_BANDS,
    allocate,
    es_path_weights,
    factor_bins,
    region,
    score_band,
    var_path_weights,
)
from montemap.credit.estimators import Tail, weighted_mean_se

TOP = 10
SEGMENTS = ("loan_type", "rate_type", "region", "score_band")


def vs_base(
    loss_cents: NDArray[np.int64],
    base_cents: NDArray[np.int64],
    weights: NDArray[np.float64],
    diffs: Mapping[float, Tail],
    base_shock_bp: int = 0,
) -> dict[str, Any]:
    """This scenario minus the base scenario (0 bp where the run has it, else the
    first; named by ``base_shock_bp``): EL, VaR and ES deltas with SEs and 95%
    intervals, estimated on the same paths (common random numbers)."""
    delta, se = weighted_mean_se((loss_cents - base_cents) / 100.0, weights)
    levels = {str(a): t for a, t in diffs.items()}
    return {
        "base_shock_bp": base_shock_bp,
        "expected_loss": delta,
        "expected_loss_se": se,
        "expected_loss_ci": [delta - 1.96 * se, delta + 1.96 * se] if se is not None else None,
        "var": {k: t.var for k, t in levels.items()},
        "var_se": {k: t.var_se for k, t in levels.items()},
        "var_ci": {k: list(t.var_ci) for k, t in levels.items()},
        "es": {k: t.es for k, t in levels.items()},
        "es_se": {k: t.es_se for k, t in levels.items()},
        "es_ci": {k: list(t.es_ci) for k, t in levels.items()},
    }


def scenario_contributions(
    rows: pa.Table,
    losses: NDArray[np.float64],
    weights: NDArray[np.float64],
    factor: NDArray[np.float64],
    tails: Mapping[float, Tail],
) -> tuple[pa.Table, dict[str, Any]]:
    """Per-loan contributions to VaR and ES at each level (a table) and their summary:
    per figure the scale factor, the segment totals and the top contributors."""

    def col(name: str) -> NDArray[Any]:
        return np.asarray(rows.column(name).to_numpy(zero_copy_only=False))

    figures: list[tuple[str, float]] = []
    omegas = []
    for a, t in tails.items():
        omegas.append(es_path_weights(losses, weights, a, t.var))
        figures.append((f"es_{a}", t.es))
        omegas.append(var_path_weights(losses, weights, t.var, t.bandwidth))
        figures.append((f"var_{a}", t.var))
    centres, masses = factor_bins(factor, omegas)
    lgd_ead = col("lgd").astype(np.float64) * col("ead").astype(np.float64)
    allocations = allocate(
        lgd_ead,
        col("pd_repriced").astype(np.float64),
        col("rho").astype(np.float64),
        centres,
        masses,
        [total for _, total in figures],
    )
    groups = {
        "loan_type": col("LoanType").astype(object),
        "rate_type": col("RateType").astype(object),
        "region": region(col("ZipCode").astype(object)),
        "score_band": score_band(col("credit_score").astype(np.float64)),
    }
    keys = rows.column("key")
    shock = rows.column("shock_bp")
    table = pa.table(
        {
            "key": keys,
            "AccountID": rows.column("AccountID"),
            "shock_bp": shock,
            **{
                name: pa.array(alloc.per_loan)
                for (name, _), alloc in zip(figures, allocations, strict=True)
            },
        }
    )
    summary: dict[str, Any] = {}
    for (name, total), alloc in zip(figures, allocations, strict=True):
        summary[name] = {
            "total": total,
            "scale": alloc.scale,
            "segments": {seg: _segment(groups[seg], alloc.per_loan, seg) for seg in SEGMENTS},
            "top": _top(rows, alloc.per_loan, total),
        }
    return table, summary


def _segment(
    labels: NDArray[np.object_], values: NDArray[np.float64], seg: str
) -> list[dict[str, Any]]:
    names = sorted(set(labels.tolist())) if labels.shape[0] else []
    if seg == "score_band":
        names = [b for b in SCORE_BANDS if b in set(names)]
    total = float(values.sum())
    out = []
    for name in names:
        part = float(values[labels == name].sum())
        out.append({"key": name, "contribution": part, "share": part / total if total else 0.0})
    return out


def _top(rows: pa.Table, values: NDArray[np.float64], total: float) -> list[dict[str, Any]]:
    if values.shape[0] == 0:
        return []
    idx = np.argsort(-values, kind="stable")[:TOP]
    picked = rows.take(pa.array(idx))
    out = []
    for i, key, account, lt in zip(
        idx.tolist(),
        picked.column("key").to_pylist(),
        picked.column("AccountID").to_pylist(),
        pc.cast(picked.column("LoanType"), pa.string()).to_pylist(),
        strict=True,
    ):
        v = float(values[i])
        out.append(
            {
                "key": key,
                "AccountID": account,
                "loan_type": lt,
                "contribution": v,
                "share": v / total if total else 0.0,
            }
        )
    return out
