"""The reduction: batch outputs in, portfolio figures (``summary.json``) out.

Loss vectors are integer cents summed path by path in batch order, so the
portfolio figures are exact and independent of batching. Per-loan rows are
taken in one canonical order (scenario, then key) and summed exactly as NumPy
sums the whole column, so those figures do not depend on batching either. It
streams: memory holds path-level arrays and bounded state, never all loans
(:mod:`reduce_scan` is the first pass, :mod:`reduce_loans` the per-loan passes,
:mod:`reduce_files` the files).
"""

from __future__ import annotations

import ctypes
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from montemap.credit import reduce_merge
from montemap.credit.batch import RATE_BUCKETS, SIZE_BANDS, TERM_BUCKETS, default_store
from montemap.credit.batch_blocks import ScenarioBlocks
from montemap.credit.capital import segment_capital_from_sums
from montemap.credit.estimators import (
    BOOTSTRAP,
    Tail,
    base_index,
    difference_table,
    weighted_mean_se,
    weighted_quantile,
    weighted_sd,
)
from montemap.credit.model import PD_FLOOR
from montemap.credit.params import BatchInputError, RunParams, parse_batch_input
from montemap.credit.quality import no_loans_reason
from montemap.credit.reduce_blas import single_thread_blas
from montemap.credit.reduce_files import (
    LIST_FILES,
    MATURED_COLUMNS,
    RunFiles,
    publish_store,
    write_lists,
)
from montemap.credit.reduce_loans import Contributions, LoanTotals
from montemap.credit.reduce_merge import scenario_chunks
from montemap.credit.reduce_overlap import overlap_checked
from montemap.credit.reduce_prefetch import Prefetched, prefetched
from montemap.credit.reduce_scan import (
    AccountSpill,
    BatchInfo,
    ReduceError,
    Scan,
    check_accounts,
    id_array,
    open_spill_dir,
    scan_batches,
)
from montemap.credit.reduce_writer import (
    BackgroundParquet,
    contributions_options,
    loans_options,
)
from montemap.credit.report_inputs import figure_feed
from montemap.credit.report_loans import Coded, FigureFeed, Figures
from montemap.credit.risk import vs_base
from montemap.credit.sampling import IS_SHIFT, path_design
from montemap.scratch_dirs import owned_temp_dir
from montemap.storage import ObjectStore, iter_keys

__all__ = [
    "MATURED_COLUMNS",
    "NoLoansError",
    "ReduceError",
    "RunOutputs",
    "handle_reduce",
    "list_batches",
    "publish_store",
    "reduce_run",
]

ALPHAS = (0.99, 0.999)
LOSS_BINS = 40
PD_EDGES = np.geomspace(PD_FLOOR, 1.0, 25)
#: Books from which the Parquet writers join two chunks a row group (:func:`writer_shape`):
#: none since the writers hold no metadata per row group (session 20: joined groups held
#: a chunk more for nothing, 2M loans 247-265 MB against 240-249; docs/benchmarks.md).
JOIN_LOANS: int | None = None
BREAKDOWNS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "rate_bucket": ("rate_bucket", tuple(name for name, _ in RATE_BUCKETS)),
    "term": ("term_bucket", tuple(name for name, _ in TERM_BUCKETS)),
    "loan_type": ("LoanType", ("personal", "commercial")),
    "rate_type": ("RateType", ("fixed", "variable")),
    "size_band": ("size_band", tuple(name for name, _ in SIZE_BANDS)),
    "zip3": ("zip3", None),
}


class NoLoansError(ReduceError):
    """Not one loan could be simulated (``rejects.csv`` and ``matured.csv`` are written)."""


@dataclass
class RunOutputs:
    """What a run published: the summary, the folder holding the run's files (``None``
    when the reduction was asked for its figures only) and, when asked for, the report's
    per-loan figures of ``loans.parquet`` (``write_report``'s ``loan_figures``)."""

    summary: dict[str, Any]
    out_dir: Path | None = None
    loan_figures: Figures | None = None


# --------------------------------------------------------------------------- reading


def list_batches(store: ObjectStore, bucket: str, prefix: str) -> list[str]:
    """Ids of the complete batches (those with ``batch.json``) under the run prefix, sorted
    (a keys-only listing: no batch output's deferred ETag is computed)."""
    root = f"{prefix}/batches/" if prefix else "batches/"
    ids = []
    for key in iter_keys(store, bucket, root):
        rest = key[len(root) :]
        if rest.endswith("/batch.json") and rest.count("/") == 1:
            ids.append(rest.split("/", 1)[0])
    return ids


def reduce_run(
    store: ObjectStore,
    params: RunParams,
    batch_ids: Sequence[str] | None = None,
    *,
    out_dir: Path | None = None,
    report_figures: bool = False,
) -> RunOutputs:
    """Combine the batches (given in order, or every batch under the prefix, sorted)
    and write the run's files into ``out_dir`` (without it, compute the figures only);
    with ``report_figures``, also the report's per-loan figures, as the rows are written
    (the report then need not read ``loans.parquet`` back).

    Streaming: the batches are read one at a time, twice (path vectors and counts, then
    each scenario's loan rows), and memory holds path-level arrays and bounded state,
    whatever the number of loans. Files appear only when complete; when no loan could
    be simulated only ``rejects.csv`` and ``matured.csv`` are written.
    """
    ids = id_array(
        batch_ids
        if batch_ids is not None
        else list_batches(store, params.output_bucket, params.output_prefix)
    )
    if not len(ids):
        raise ReduceError(
            f"no batch outputs under s3://{params.output_bucket}/{params.run_key('batches/')}"
        )
    with open_spill_dir() as scratch_name:
        scratch = Path(scratch_name)
        target = out_dir if out_dir is not None else scratch / "out"
        target.mkdir(parents=True, exist_ok=True)
        feed = figure_feed(params.shocks_bp) if report_figures else None
        try:
            with single_thread_blas():
                summary = _reduce(store, params, ids, scratch, RunFiles(target), feed)
        finally:
            release_memory()
    return RunOutputs(summary, out_dir, feed.result() if feed is not None else None)


@contextmanager
def arrow_pool() -> Iterator[None]:
    """Arrow's jemalloc pool as the default one inside, where this PyArrow has it.

    The reduction and the report allocate and free Arrow buffers of every size on four
    threads; Arrow's default pool (mimalloc) keeps much of what they free resident, so
    simulate's main process peaked 14-29 MB higher with it (reduce and report of 500,000 loans,
    three runs each: 253-268 MB against 231-239 MB; the same CPU). Values are unchanged:
    only where the buffers live. The previous pool is the default again on the way out.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a PyArrow built without jemalloc
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)
        pool.release_unused()


def release_memory() -> None:
    """Hand the memory the reduction freed back to the system: Arrow's pool and the C
    allocator both keep freed pages for reuse, which would otherwise stay in the resident
    set of the process (the report that follows, a server's long-lived worker)."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _load_libc()


def _reduce(
    store: ObjectStore,
    params: RunParams,
    ids: pa.Array,
    scratch: Path,
    files: RunFiles,
    feed: FigureFeed | None,
) -> dict[str, Any]:
    spill = AccountSpill(scratch, len(ids))
    try:
        scan = scan_batches(store, params, ids, spill)
    finally:
        spill.close()
    n_loans = scan.loans
    try:
        if n_loans == 0:
            write_lists(store, params, _in_key_order(scan), files)
            files.commit(LIST_FILES)
            q = scan.quality
            raise NoLoansError(no_loans_reason(q.by_reason(), q.matured_listed, q.objects))
        # the first scenario's rows are read ahead while the checks and the lists run
        blocks = ScenarioBlocks(len(scan.batches), params.shocks_bp)
        chunks = scenario_chunks(store, params, scan.batches, 0, blocks)
        with (
            overlap_checked(store, params, scan.batches, scratch),
            closing(prefetched(chunks)) as first,
        ):
            check_accounts(store, params, scan, spill)
            for j, shock in enumerate(params.shocks_bp):
                rows = int(scan.batches.rows[:, j].sum())
                if rows != n_loans:
                    raise ReduceError(f"scenario {shock} bp has {rows} rows, expected {n_loans}")
            write_lists(store, params, _in_key_order(scan), files)
            scenarios = _scenarios(
                store, params, scan, n_loans, scratch, files, (first, blocks), feed
            )
        summary = _summary(params, scan, n_loans, len(ids), scenarios)
        files.path("summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        files.commit((*LIST_FILES, "loans.parquet", "contributions.parquet", "summary.json"))
        return summary
    finally:
        files.discard()


def _in_key_order(scan: Scan) -> Iterator[BatchInfo]:
    """The batches with a key range, by smallest key, then position, one at a time (as
    ``write_lists`` takes them)."""
    return scan.batches.infos(scan.batches.key_order())


def _scenarios(
    store: ObjectStore,
    params: RunParams,
    scan: Scan,
    n_loans: int,
    scratch: Path,
    files: RunFiles,
    reads: tuple[Prefetched[pa.Table], ScenarioBlocks],
    feed: FigureFeed | None,
) -> list[dict[str, Any]]:
    """Passes 2 and 3, scenario by scenario (``reads``: scenario 0's rows, being read,
    and where the batches keep each scenario, learned as they are read); each
    scenario's rows are read while the one before finishes. The rows written to
    loans.parquet also go to ``feed`` (the report's figures), if any."""
    first, blocks = reads
    s = params.paths
    design = path_design(params.seed, s, params.estimator)
    b = base_index(params.shocks_bp)
    tails, diffs = difference_table(
        scan.loss / 100.0,
        design.weight,
        ALPHAS,
        seed=params.seed,
        replicates=_replicates(s),
        base=b,
    )
    shape = writer_shape(n_loans)
    loans_out = BackgroundParquet(files.path("loans.parquet"), loans_options(), **shape)
    contrib_out = BackgroundParquet(
        files.path("contributions.parquet"), contributions_options(), **shape
    )
    scenarios = []
    contrib: Contributions | None = None
    last = len(params.shocks_bp) - 1
    reading = first  # closed again in the end: no effect once read or closed
    try:
        for j, shock in enumerate(params.shocks_bp):
            mu = -params.kappa * shock / 100.0
            factor = design.z0.astype(np.float64) + design.shift + mu
            totals = LoanTotals(n_loans, {k: c for k, (c, _) in BREAKDOWNS.items()}, PD_EDGES)
            contrib = Contributions(
                n_loans, scan.loss[j] / 100.0, design.weight, factor, tails[j], scratch
            )
            with closing(reading):
                for rows in reading:
                    loans_out.write(rows)
                    totals.add(rows)
                    contrib.add(rows, totals)
                    if feed is not None:
                        feed.add(shock, rows, _types(rows, totals))
            loans_out.flush()  # a row group holds one scenario's rows
            if j < last:  # read the next scenario while this one's third pass runs
                reading = prefetched(scenario_chunks(store, params, scan.batches, j + 1, blocks))
            else:  # every row is written: the file is finished (its footer written,
                loans_out.close()  # its encoding thread ended) before the last pass 3
            figures = scenario_summary(
                shock, params, totals, scan.loss[j], scan.defaults[j], design.weight, tails[j]
            )
            figures["vs_base"] = vs_base(
                scan.loss[j], scan.loss[b], design.weight, diffs[j], params.shocks_bp[b]
            )
            figures["contributions"], capital = contrib.finish(contrib_out)
            contrib_out.flush()
            figures["capital_segments"] = segment_capital_from_sums(
                capital, figures["contributions"], tuple(str(a) for a in ALPHAS)
            )
            scenarios.append(figures)
    finally:
        reading.close()
        if contrib is not None:
            contrib.close()
        loans_out.close()
        contrib_out.close()
    return scenarios


def _types(rows: pa.Table, totals: LoanTotals) -> Coded | None:
    """The chunk's loan and rate types as ``totals`` coded them, for the report's feed
    (which codes a null label as ``"None"``: a chunk with one is coded there again)."""
    if rows.column("LoanType").null_count or rows.column("RateType").null_count:
        return None
    return totals.labels("loan_type"), totals.labels("rate_type")


def writer_shape(n_loans: int) -> dict[str, int]:
    """Row groups and queue of both Parquet writers for a book of ``n_loans``: from
    ``JOIN_LOANS`` loans (if any), groups of two of pass 2's chunks with one chunk
    waiting; below, each chunk a group, two waiting."""
    if JOIN_LOANS is None or n_loans < JOIN_LOANS:
        return {}
    return {"group_rows": 2 * reduce_merge.CHUNK_ROWS, "depth": 1}


def _summary(
    params: RunParams, scan: Scan, n_loans: int, batches: int, scenarios: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "format": 1,
        "loans": n_loans,
        "objects": scan.quality.objects,
        "rejected": scan.rejected,
        "matured": scan.quality.matured_count,
        "paths": params.paths,
        "seed": params.seed,
        "as_of": params.as_of.isoformat(),
        "shocks_bp": list(params.shocks_bp),
        "cutoff": params.cutoff,
        "kappa": params.kappa,
        "backend": params.backend,
        "estimator": params.estimator,
        "is_shift": IS_SHIFT if params.estimator == "is" else 0.0,
        "bootstrap_replicates": _replicates(params.paths),
        "batches": batches,
        **scan.quality.summary_fields(),
        "scenarios": scenarios,
    }


def _replicates(paths: int) -> int:
    """Bootstrap replicates: fewer for very long runs (the cost is replicates x paths)."""
    return BOOTSTRAP if paths <= 100_000 else 100


# --------------------------------------------------------------------------- figures


def scenario_summary(
    shock: int,
    params: RunParams,
    totals: LoanTotals,
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
    n = totals.n
    levels = [str(a) for a in ALPHAS]
    counts = defaults.astype(np.float64)
    capital = totals.total("irb_capital")
    return {
        "shock_bp": shock,
        "mu": -params.kappa * shock / 100.0,
        "exposure": totals.total("ead"),
        "expected_loss": mean,
        "expected_loss_se": mean_se,
        "expected_loss_model": totals.total("expected_loss"),
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
        "defaults_flagged": totals.flagged,
        "mean_pd": totals.total("pd_stressed") / n if n else 0.0,
        "mean_pd0": totals.total("pd0") / n if n else 0.0,
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
        "pd_histogram": {"edges": PD_EDGES.tolist(), "counts": totals.pd_hist.tolist()},
        "breakdowns": {
            name: totals.breakdown(name, order) for name, (_, order) in BREAKDOWNS.items()
        },
    }


# --------------------------------------------------------------------------- the workflow


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
    with owned_temp_dir("montemap-run-") as tmp:
        outputs = reduce_run(store, params, batch_ids, out_dir=Path(tmp))
        publish_store(store, params, Path(tmp))
    return {
        "loans": outputs.summary["loans"],
        "rejected": outputs.summary["rejected"],
        "summary": f"s3://{params.output_bucket}/{params.run_key('summary.json')}",
        "scenarios": [
            {k: sc[k] for k in ("shock_bp", "expected_loss", "var", "defaults_flagged")}
            for sc in outputs.summary["scenarios"]
        ],
    }
