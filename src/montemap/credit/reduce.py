"""The reduction: batch outputs in, portfolio figures (``summary.json``) out.

Loss vectors are integer cents summed path by path in batch order, so the
portfolio figures are exact and independent of batching. Per-loan rows are put
in one canonical order (scenario, then key) before anything is summed over
loans, so those figures do not depend on batching either.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from montemap.credit.batch import RATE_BUCKETS, SIZE_BANDS, TERM_BUCKETS, default_store
from montemap.credit.capital import segment_capital
from montemap.credit.estimators import (
    BOOTSTRAP,
    Tail,
    difference_table,
    weighted_mean_se,
    weighted_quantile,
    weighted_sd,
)
from montemap.credit.loans import OPTIONAL
from montemap.credit.model import PD_FLOOR
from montemap.credit.params import BatchInputError, RunParams, parse_batch_input
from montemap.credit.quality import (
    MAX_EXAMPLES,
    check_unique_accounts,
    no_loans_reason,
    rejects_by_reason,
)
from montemap.credit.risk import scenario_contributions, vs_base
from montemap.credit.sampling import IS_SHIFT, path_design
from montemap.errors import MontemapError
from montemap.storage import ObjectStore, ObjectStoreError, iter_objects

ALPHAS = (0.99, 0.999)
LOSS_BINS = 40
MATURED_COLUMNS = ("key", "AccountID", "OriginationDate", "LoanTerm")
PD_EDGES = np.geomspace(PD_FLOOR, 1.0, 25)
BREAKDOWNS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "rate_bucket": ("rate_bucket", tuple(name for name, _ in RATE_BUCKETS)),
    "term": ("term_bucket", tuple(name for name, _ in TERM_BUCKETS)),
    "loan_type": ("LoanType", ("personal", "commercial")),
    "rate_type": ("RateType", ("fixed", "variable")),
    "size_band": ("size_band", tuple(name for name, _ in SIZE_BANDS)),
    "zip3": ("zip3", None),
}


class ReduceError(MontemapError):
    """Batch outputs that cannot be combined (missing, mixed runs, overlapping)."""


class NoLoansError(ReduceError):
    """Not one loan could be simulated; carries the rejects and matured loans to write."""

    def __init__(
        self, message: str, rejects: list[tuple[str, str]], matured: list[dict[str, Any]]
    ) -> None:
        super().__init__(message)
        self.rejects = rejects
        self.matured = matured


@dataclass
class BatchOutput:
    """One batch's outputs as read back (per-loan rows still Parquet-encoded)."""

    meta: dict[str, Any]
    loans_parquet: bytes
    shocks_bp: NDArray[np.int64]
    loss_cents: NDArray[np.int64]
    defaults: NDArray[np.int64]

    def scenario_rows(self, shock: int) -> pa.Table:
        """This batch's rows of one scenario."""
        source = pq.ParquetFile(pa.BufferReader(self.loans_parquet))
        k = len(self.shocks_bp)
        if source.metadata.num_row_groups == k:  # one row group per scenario
            return source.read_row_group(list(self.shocks_bp).index(shock))
        return source.read().filter(pc.equal(pc.field("shock_bp"), shock))


@dataclass
class RunOutputs:
    """What a run publishes: the summary, the rejects, and ``loans.parquet`` (as bytes
    unless it was written straight to a file)."""

    summary: dict[str, Any]
    rejects: list[tuple[str, str]]
    loans_parquet: bytes | None = None
    contributions: pa.Table | None = None
    matured: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def list_batches(store: ObjectStore, bucket: str, prefix: str) -> list[str]:
    """Ids of the complete batches (those with ``batch.json``) under the run prefix, sorted."""
    root = f"{prefix}/batches/" if prefix else "batches/"
    ids = []
    for info in iter_objects(store, bucket, root):
        rest = info.key[len(root) :]
        if rest.endswith("/batch.json") and rest.count("/") == 1:
            ids.append(rest.split("/", 1)[0])
    return ids


def read_batch(store: ObjectStore, params: RunParams, batch_id: str) -> BatchOutput:
    """Read one batch's three files."""
    bucket = params.output_bucket
    try:
        meta = json.loads(store.get(bucket, params.batch_key(batch_id, "batch.json")))
        loans = store.get(bucket, params.batch_key(batch_id, "loans.parquet"))
        with np.load(io.BytesIO(store.get(bucket, params.batch_key(batch_id, "paths.npz")))) as npz:
            shocks, loss, defaults = npz["shocks_bp"], npz["loss_cents"], npz["defaults"]
    except ObjectStoreError as exc:
        raise ReduceError(f"batch {batch_id}: {exc}")
    except (ValueError, OSError, KeyError) as exc:
        raise ReduceError(f"batch {batch_id}: unreadable output: {exc}")
    return BatchOutput(meta, loans, shocks, loss, defaults)


def reduce_run(
    store: ObjectStore,
    params: RunParams,
    batch_ids: Sequence[str] | None = None,
    *,
    loans_path: Path | None = None,
) -> RunOutputs:
    """Combine the batches (given in order, or every batch under the prefix, sorted).

    ``loans.parquet`` is assembled one scenario at a time (memory holds one
    scenario's rows) and written to ``loans_path``, or returned as bytes.
    """
    ids = (
        list(batch_ids)
        if batch_ids is not None
        else list_batches(store, params.output_bucket, params.output_prefix)
    )
    if not ids:
        raise ReduceError(
            f"no batch outputs under s3://{params.output_bucket}/{params.run_key('batches/')}"
        )
    fingerprint = params.fingerprint()
    k, s = len(params.shocks_bp), params.paths
    loss = np.zeros((k, s), dtype=np.int64)
    defaults = np.zeros((k, s), dtype=np.int64)
    batches: list[BatchOutput] = []
    rejects: list[tuple[str, str]] = []
    counts = {"objects": 0, "matured": 0, "payment_mismatch": 0}
    applied = dict.fromkeys(OPTIONAL, 0)
    overrides = {"PD": 0, "LGD": 0, "Rho": 0}
    causes: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    matured: list[dict[str, Any]] = []
    for batch_id in ids:
        out = read_batch(store, params, batch_id)
        if out.meta.get("run") != fingerprint:
            raise ReduceError(
                f"batch {batch_id} was produced with other run parameters "
                f"({out.meta.get('params')}); clear the run prefix or use a new one"
            )
        if list(out.shocks_bp) != list(params.shocks_bp) or out.loss_cents.shape != (k, s):
            raise ReduceError(
                f"batch {batch_id}: loss vectors do not match the run's scenarios/paths"
            )
        loss += out.loss_cents
        defaults += out.defaults
        batches.append(out)
        rejects.extend((r["key"], r["reason"]) for r in out.meta["rejects"])
        for name in counts:
            counts[name] += int(out.meta[name])
        for name in applied:
            applied[name] += int(out.meta["defaults_applied"].get(name, 0))
        for name in overrides:
            overrides[name] += int(out.meta["overrides"].get(name, 0))
        for cause, n in out.meta.get("payment_mismatch_causes", {}).items():
            causes[cause] = causes.get(cause, 0) + int(n)
        examples.extend(out.meta.get("payment_mismatch_examples", []))
        matured.extend(out.meta.get("matured_loans", []))
    rejects.sort()
    matured.sort(key=lambda r: str(r["key"]))
    by_reason = rejects_by_reason(reason for _, reason in rejects)
    sink: Any = str(loans_path) if loans_path is not None else pa.BufferOutputStream()
    design = path_design(params.seed, s, params.estimator)
    tails, diffs = difference_table(
        loss / 100.0, design.weight, ALPHAS, seed=params.seed, replicates=_replicates(s)
    )
    scenarios = []
    contribution_tables = []
    n_loans = 0
    writer: pq.ParquetWriter | None = None
    try:
        for j, shock in enumerate(params.shocks_bp):
            rows = pa.concat_tables([b.scenario_rows(shock) for b in batches])
            rows = rows.sort_by([("key", "ascending")]).combine_chunks()
            if j == 0:
                n_loans = rows.num_rows
                if n_loans == 0:
                    reason = no_loans_reason(by_reason, len(matured), counts["objects"])
                    raise NoLoansError(reason, rejects, matured)
                if pc.count_distinct(rows.column("key")).as_py() != n_loans:
                    raise ReduceError("batches overlap: some loan appears in more than one batch")
                check_unique_accounts(
                    rows.column("AccountID").to_numpy(), rows.column("key").to_pylist()
                )
                writer = pq.ParquetWriter(sink, rows.schema, compression="zstd")
            elif rows.num_rows != n_loans:
                raise ReduceError(
                    f"scenario {shock} bp has {rows.num_rows} rows, expected {n_loans}"
                )
            assert writer is not None
            writer.write_table(rows)
            figures = scenario_summary(
                shock, params, rows, loss[j], defaults[j], design.weight, tails[j]
            )
            figures["vs_base"] = vs_base(loss[j], loss[0], design.weight, diffs[j])
            factor = design.z0.astype(np.float64) + design.shift + figures["mu"]
            table, figures["contributions"] = scenario_contributions(
                rows, loss[j] / 100.0, design.weight, factor, tails[j]
            )
            figures["capital_segments"] = segment_capital(
                rows, figures["contributions"], tuple(str(a) for a in ALPHAS)
            )
            contribution_tables.append(table)
            scenarios.append(figures)
    finally:
        if writer is not None:
            writer.close()
    summary = {
        "format": 1,
        "loans": n_loans,
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
        "rejects_by_reason": by_reason,
        "scenarios": scenarios,
    }
    data = None if loans_path is not None else bytes(sink.getvalue().to_pybytes())
    contributions = pa.concat_tables(contribution_tables) if contribution_tables else None
    return RunOutputs(summary, rejects, data, contributions, matured)


def _replicates(paths: int) -> int:
    """Bootstrap replicates: fewer for very long runs (the cost is replicates x paths)."""
    return BOOTSTRAP if paths <= 100_000 else 100


# --------------------------------------------------------------------------- figures


def scenario_summary(
    shock: int,
    params: RunParams,
    rows: pa.Table,
    loss_cents: NDArray[np.int64],
    defaults: NDArray[np.int64],
    weights: NDArray[np.float64],
    tails: Mapping[float, Tail],
) -> dict[str, Any]:
    """The figures of one scenario (every Monte Carlo figure weighted by the IS weights)."""
    s = loss_cents.shape[0]
    losses = loss_cents / 100.0
    mean, mean_se = weighted_mean_se(losses, weights)
    sd = weighted_sd(losses, weights)
    top = float(losses.max()) if s else 0.0
    edges = np.linspace(0.0, top if top > 0 else 1.0, LOSS_BINS + 1)
    hist, _ = np.histogram(losses, bins=edges)
    mass, _ = np.histogram(losses, bins=edges, weights=weights / s)
    col = {
        name: rows.column(name).to_numpy(zero_copy_only=False)
        for name in (
            "ead",
            "expected_loss",
            "pd_stressed",
            "pd0",
            "irb_capital",
            "sim_expected_loss",
        )
    }
    flagged = np.asarray(rows.column("WillDefault").to_numpy(zero_copy_only=False)) == "YES"
    pd_hist, _ = np.histogram(np.clip(col["pd_stressed"], PD_EDGES[0], PD_EDGES[-1]), bins=PD_EDGES)
    n = rows.num_rows
    levels = [str(a) for a in ALPHAS]
    counts = defaults.astype(np.float64)
    capital = float(col["irb_capital"].sum())
    return {
        "shock_bp": shock,
        "mu": -params.kappa * shock / 100.0,
        "exposure": float(col["ead"].sum()),
        "expected_loss": mean,
        "expected_loss_se": mean_se,
        "expected_loss_model": float(col["expected_loss"].sum()),
        "unexpected_loss": sd,
        "var": {k: tails[a].var for k, a in zip(levels, ALPHAS, strict=True)},
        "var_se": {k: tails[a].var_se for k, a in zip(levels, ALPHAS, strict=True)},
        "var_ci": {k: list(tails[a].var_ci) for k, a in zip(levels, ALPHAS, strict=True)},
        "es": {k: tails[a].es for k, a in zip(levels, ALPHAS, strict=True)},
        "es_se": {k: tails[a].es_se for k, a in zip(levels, ALPHAS, strict=True)},
        "es_ci": {k: list(tails[a].es_ci) for k, a in zip(levels, ALPHAS, strict=True)},
        "economic_capital": {k: tails[a].var - mean for k, a in zip(levels, ALPHAS, strict=True)},
        "irb_capital": capital,
        "rwa": 12.5 * capital,
        "defaults_flagged": int(flagged.sum()),
        "mean_pd": float(col["pd_stressed"].mean()) if n else 0.0,
        "mean_pd0": float(col["pd0"].mean()) if n else 0.0,
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
            "counts": hist.tolist(),
            "probability": mass.tolist(),
        },
        "pd_histogram": {"edges": PD_EDGES.tolist(), "counts": pd_hist.tolist()},
        "breakdowns": {
            name: breakdown(rows, column, order, col, flagged)
            for name, (column, order) in BREAKDOWNS.items()
        },
    }


def breakdown(
    rows: pa.Table,
    column: str,
    order: tuple[str, ...] | None,
    col: Mapping[str, NDArray[np.float64]],
    flagged: NDArray[np.bool_],
) -> list[dict[str, Any]]:
    """Per-group loans, exposure, expected losses, mean PD and flagged count.

    Groups are summed with ``bincount`` in row order (one pass, deterministic).
    """
    encoded = pc.dictionary_encode(rows.column(column)).combine_chunks()
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    m = len(names)

    def total(values: NDArray[np.float64] | NDArray[np.bool_]) -> NDArray[np.float64]:
        summed = np.bincount(index, weights=values.astype(np.float64), minlength=m)
        return np.asarray(summed, dtype=np.float64)

    count = np.bincount(index, minlength=m)
    sums = {name: total(col[name]) for name in ("ead", "expected_loss", "sim_expected_loss")}
    pd_sum, n_flagged = total(col["pd_stressed"]), total(flagged)
    position = {name: i for i, name in enumerate(names)}
    keys = list(order) if order is not None else sorted(names)
    out = []
    for key in keys:
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


# --------------------------------------------------------------------------- writing


def rejects_csv(rejects: Sequence[tuple[str, str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["key", "reason"])
    writer.writerows(rejects)
    return buf.getvalue().encode()


def matured_csv(matured: Sequence[Mapping[str, Any]]) -> bytes:
    """``matured.csv``: the loans left out because their remaining term is 0 or less."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MATURED_COLUMNS)
    writer.writerows([r.get(c, "") for c in MATURED_COLUMNS] for r in matured)
    return buf.getvalue().encode()


def write_outputs_dir(out_dir: Path, outputs: RunOutputs, *, summary: bool = True) -> None:
    """Write ``summary.json`` (unless ``summary`` is false), ``rejects.csv``,
    ``matured.csv`` (and ``loans.parquet`` if held) into a folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if outputs.loans_parquet is not None:
        (out_dir / "loans.parquet").write_bytes(outputs.loans_parquet)
    (out_dir / "rejects.csv").write_bytes(rejects_csv(outputs.rejects))
    (out_dir / "matured.csv").write_bytes(matured_csv(outputs.matured))
    if outputs.contributions is not None:
        pq.write_table(outputs.contributions, out_dir / "contributions.parquet", compression="zstd")
    if summary:
        (out_dir / "summary.json").write_text(json.dumps(outputs.summary, indent=1) + "\n")


def write_outputs_store(store: ObjectStore, params: RunParams, outputs: RunOutputs) -> None:
    """Write the three files under the run prefix in the store."""
    bucket = params.output_bucket
    if outputs.loans_parquet is not None:
        store.put(bucket, params.run_key("loans.parquet"), outputs.loans_parquet)
    store.put(bucket, params.run_key("rejects.csv"), rejects_csv(outputs.rejects))
    store.put(bucket, params.run_key("matured.csv"), matured_csv(outputs.matured))
    if outputs.contributions is not None:
        sink = pa.BufferOutputStream()
        pq.write_table(outputs.contributions, sink, compression="zstd")
        store.put(bucket, params.run_key("contributions.parquet"), sink.getvalue().to_pybytes())
    summary = (json.dumps(outputs.summary, indent=1) + "\n").encode()
    store.put(bucket, params.run_key("summary.json"), summary)


def handle_reduce(
    event: Any, context: Any = None, *, store: ObjectStore | None = None
) -> dict[str, Any]:
    """Workflow entry point: ``event`` is the run's BatchInput (optionally with ``batch_ids``).

    Writes the run files under the prefix and returns the headline figures.
    """
    if not isinstance(event, Mapping):
        raise BatchInputError("the reduce event must be an object (the run's BatchInput)")
    fields = dict(event)
    batch_ids = fields.pop("batch_ids", None)
    if batch_ids is not None and (
        not isinstance(batch_ids, list) or not all(isinstance(b, str) for b in batch_ids)
    ):
        raise BatchInputError("batch_ids must be a list of batch id strings")
    params, _ = parse_batch_input(fields)
    store = store if store is not None else default_store()
    outputs = reduce_run(store, params, batch_ids)
    write_outputs_store(store, params, outputs)
    return {
        "loans": outputs.summary["loans"],
        "rejected": outputs.summary["rejected"],
        "summary": f"s3://{params.output_bucket}/{params.run_key('summary.json')}",
        "scenarios": [
            {k: sc[k] for k in ("shock_bp", "expected_loss", "var", "defaults_flagged")}
            for sc in outputs.summary["scenarios"]
        ],
    }
