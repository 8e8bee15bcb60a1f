"""The whole-table reduction as it was before it streamed (issue 13), kept as the oracle
that the streaming reduction must match bit for bit: every batch in memory, each
scenario's rows concatenated and sorted by key, every sum over the whole column."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from montemap.credit.batch_rows import open_batch_rows
from montemap.credit.capital import segment_capital
from montemap.credit.estimators import (
    Tail,
    base_index,
    difference_table,
    weighted_mean_se,
    weighted_quantile,
    weighted_sd,
)
from montemap.credit.loans import OPTIONAL
from montemap.credit.params import RunParams
from montemap.credit.quality import MAX_EXAMPLES, reason_group
from montemap.credit.reduce import ALPHAS, BREAKDOWNS, LOSS_BINS, PD_EDGES, _replicates
from montemap.credit.risk import scenario_contributions, vs_base
from montemap.credit.sampling import IS_SHIFT, path_design
from montemap.storage import ObjectStore


def reference_reduce(
    store: ObjectStore, params: RunParams, ids: Sequence[str]
) -> tuple[dict[str, Any], pa.Table, pa.Table, list[tuple[str, str]], list[dict[str, Any]]]:
    """``(summary, loans, contributions, rejects, matured)`` the old way."""
    k, s = len(params.shocks_bp), params.paths
    loss = np.zeros((k, s), dtype=np.int64)
    defaults = np.zeros((k, s), dtype=np.int64)
    files, matured, examples = [], [], []
    rejects: list[tuple[str, str]] = []
    counts = {"objects": 0, "matured": 0, "payment_mismatch": 0}
    applied = dict.fromkeys(OPTIONAL, 0)
    overrides = {"PD": 0, "LGD": 0, "Rho": 0}
    causes: Counter[str] = Counter()
    bucket = params.output_bucket
    for batch_id in ids:
        meta = json.loads(store.get(bucket, params.batch_key(batch_id, "batch.json")))
        with np.load(io.BytesIO(store.get(bucket, params.batch_key(batch_id, "paths.npz")))) as z:
            loss += z["loss_cents"]
            defaults += z["defaults"]
        with open_batch_rows(
            store, bucket, params.batch_key(batch_id, ""), params.shocks_bp
        ) as opened:
            files.append(pa.concat_tables(opened.scenario(j) for j in range(len(params.shocks_bp))))
        rejects.extend((r["key"], r["reason"]) for r in meta["rejects"])
        for name in counts:
            counts[name] += int(meta[name])
        for name in applied:
            applied[name] += int(meta["defaults_applied"].get(name, 0))
        for name in overrides:
            overrides[name] += int(meta["overrides"].get(name, 0))
        causes.update({c: int(n) for c, n in meta.get("payment_mismatch_causes", {}).items()})
        examples.extend(meta.get("payment_mismatch_examples", []))
        matured.extend(meta.get("matured_loans", []))
    rejects.sort()
    matured.sort(key=lambda r: str(r["key"]))
    design = path_design(params.seed, s, params.estimator)
    b = base_index(params.shocks_bp)
    tails, diffs = difference_table(
        loss / 100.0, design.weight, ALPHAS, seed=params.seed, replicates=_replicates(s), base=b
    )
    scenarios, loan_tables, contribution_tables = [], [], []
    for j, shock in enumerate(params.shocks_bp):
        rows = pa.concat_tables([p.filter(pc.equal(p.column("shock_bp"), shock)) for p in files])
        rows = rows.sort_by([("key", "ascending")]).combine_chunks()
        loan_tables.append(rows)
        figures = _scenario(shock, params, rows, loss[j], defaults[j], design.weight, tails[j])
        figures["vs_base"] = vs_base(loss[j], loss[b], design.weight, diffs[j], params.shocks_bp[b])
        factor = design.z0.astype(np.float64) + design.shift + figures["mu"]
        table, figures["contributions"] = scenario_contributions(
            rows, loss[j] / 100.0, design.weight, factor, tails[j]
        )
        figures["capital_segments"] = segment_capital(
            rows, figures["contributions"], tuple(str(a) for a in ALPHAS)
        )
        contribution_tables.append(table)
        scenarios.append(figures)
    by_reason = Counter(reason_group(r) for _, r in rejects)
    summary = {
        "format": 1,
        "loans": loan_tables[0].num_rows,
        "objects": counts["objects"],
        "rejected": len(rejects),
        "matured": counts["matured"],
        "paths": s,
        "seed": params.seed,
        "as_of": params.as_of.isoformat(),
        "shocks_bp": list(params.shocks_bp),
        "cutoff": params.cutoff,
        "kappa": params.kappa,
        "backend": params.backend,
        "estimator": params.estimator,
        "is_shift": IS_SHIFT if params.estimator == "is" else 0.0,
        "bootstrap_replicates": _replicates(s),
        "batches": len(ids),
        "defaults_applied": applied,
        "overrides": overrides,
        "payment_mismatch": counts["payment_mismatch"],
        "payment_mismatch_causes": dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "payment_mismatch_examples": sorted(examples, key=lambda e: str(e["key"]))[:MAX_EXAMPLES],
        "rejects_by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        "scenarios": scenarios,
    }
    loans = pa.concat_tables(loan_tables)
    return summary, loans, pa.concat_tables(contribution_tables), rejects, matured


def _scenario(
    shock: int,
    params: RunParams,
    rows: pa.Table,
    loss_cents: NDArray[np.int64],
    defaults: NDArray[np.int64],
    weights: NDArray[np.float64],
    tails: Mapping[float, Tail],
) -> dict[str, Any]:
    s = loss_cents.shape[0]
    losses = loss_cents / 100.0
    mean, mean_se = weighted_mean_se(losses, weights)
    top = float(losses.max())
    edges = np.linspace(0.0, top if top > 0 else 1.0, LOSS_BINS + 1)
    col = {
        name: rows.column(name).to_numpy(zero_copy_only=False)
        for name in (
            *("ead", "expected_loss", "pd_stressed", "pd0"),
            *("irb_capital", "sim_expected_loss"),
        )
    }
    flagged = np.asarray(rows.column("WillDefault").to_numpy(zero_copy_only=False)) == "YES"
    pd_hist, _ = np.histogram(np.clip(col["pd_stressed"], PD_EDGES[0], PD_EDGES[-1]), bins=PD_EDGES)
    levels = [str(a) for a in ALPHAS]
    counts = defaults.astype(np.float64)
    capital = float(col["irb_capital"].sum())

    def per_level(get: Any) -> dict[str, Any]:
        return {k: get(tails[a]) for k, a in zip(levels, ALPHAS, strict=True)}

    return {
        "shock_bp": shock,
        "mu": -params.kappa * shock / 100.0,
        "exposure": float(col["ead"].sum()),
        "expected_loss": mean,
        "expected_loss_se": mean_se,
        "expected_loss_model": float(col["expected_loss"].sum()),
        "unexpected_loss": weighted_sd(losses, weights),
        "var": per_level(lambda t: t.var),
        "var_se": per_level(lambda t: t.var_se),
        "var_ci": per_level(lambda t: list(t.var_ci)),
        "es": per_level(lambda t: t.es),
        "es_se": per_level(lambda t: t.es_se),
        "es_ci": per_level(lambda t: list(t.es_ci)),
        "economic_capital": per_level(lambda t: t.var - mean),
        "irb_capital": capital,
        "rwa": 12.5 * capital,
        "defaults_flagged": int(flagged.sum()),
        "mean_pd": float(col["pd_stressed"].mean()),
        "mean_pd0": float(col["pd0"].mean()),
        "default_count": {
            "mean": float((weights * counts).sum()) / s,
            "sd": weighted_sd(counts, weights),
            "min": int(defaults.min()),
            "max": int(defaults.max()),
            "quantiles": {
                str(a): int(weighted_quantile(counts, weights, a)) for a in (0.5, *ALPHAS)
            },
        },
        "loss_histogram": {
            "edges": edges.tolist(),
            "counts": np.histogram(losses, bins=edges)[0].tolist(),
            "probability": np.histogram(losses, bins=edges, weights=weights / s)[0].tolist(),
        },
        "pd_histogram": {"edges": PD_EDGES.tolist(), "counts": pd_hist.tolist()},
        "breakdowns": {
            name: _breakdown(rows, column, order, col, flagged)
            for name, (column, order) in BREAKDOWNS.items()
        },
    }


def _breakdown(
    rows: pa.Table,
    column: str,
    order: tuple[str, ...] | None,
    col: Mapping[str, NDArray[np.float64]],
    flagged: NDArray[np.bool_],
) -> list[dict[str, Any]]:
    encoded = pc.dictionary_encode(rows.column(column)).combine_chunks()
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    m = len(names)

    def total(values: NDArray[Any]) -> NDArray[np.float64]:
        # weighted, the counts are floats (numpy's stubs say intp whatever the weights)
        return cast(
            NDArray[np.float64], np.bincount(index, weights=values.astype(np.float64), minlength=m)
        )

    count = np.bincount(index, minlength=m)
    sums = {name: total(col[name]) for name in ("ead", "expected_loss", "sim_expected_loss")}
    pd_sum, n_flagged = total(col["pd_stressed"]), total(flagged)
    position = {name: i for i, name in enumerate(names)}
    out = []
    for key in list(order) if order is not None else sorted(names):
        i = position.get(key)
        n = int(count[i]) if i is not None else 0
        out.append(
            {
                "key": key,
                "loans": n,
                "exposure": float(sums["ead"][i]) if n else 0.0,
                "expected_loss": float(sums["expected_loss"][i]) if n else 0.0,
                "sim_expected_loss": float(sums["sim_expected_loss"][i]) if n else 0.0,
                "mean_pd": float(pd_sum[i]) / n if n else 0.0,
                "flagged": int(n_flagged[i]) if n else 0,
            }
        )
    return out
