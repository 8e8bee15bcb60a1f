"""The batch handler the workers run: loan objects in, per-loan results and loss vectors out.

``handle_batch(event, context)`` takes a Distributed Map batch
``{"Items": [{"Bucket": .., "Key": ..}, ...], "BatchInput": {...}}`` (the keys of
BatchInput are documented in :mod:`montemap.credit.params`), reads the loan
objects (:mod:`montemap.credit.objects`), parses them in bulk
(:mod:`montemap.credit.bulk_parse`), simulates every scenario and writes, under
``<output_prefix>/batches/<batch_id>/``:

* ``loans.arrow``: the per-loan rows (the schema of docs/model.md), an Arrow IPC file
  with one record batch per scenario (:mod:`montemap.credit.batch_rows`);
* ``paths.npz``: ``shocks_bp`` (K,), ``loss_cents`` (K, S) and ``defaults`` (K, S);
* ``batch.json``: counts, rejects and the run fingerprint, written last, so its
  presence marks a complete batch.

The batch id defaults to a hash of the item keys, so a retried batch overwrites
its own output.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from scipy import special

from montemap.credit import model, page_cache
from montemap.credit.batch_npz import npz_bytes
from montemap.credit.batch_rows import LOANS_FILE, encode_rows_bytes
from montemap.credit.bulk_parse import ParsedObjects, parse_objects
from montemap.credit.kernel import KernelInputs, KernelResult, get_backend, sq_bits
from montemap.credit.loans import Loan, LoanArrays, Reject, defaults_applied, overrides_used
from montemap.credit.objects import Item, drop_after_reading, read_objects
from montemap.credit.params import BatchInputError, RunParams, parse_batch_input
from montemap.credit.quality import MAX_EXAMPLES, mismatch_causes, mismatch_example
from montemap.credit.sampling import PathDesign, path_design
from montemap.storage import ObjectStore, ObjectStoreError, open_store

_F64 = pa.float64()


@dataclass
class BatchResult:
    """Everything one batch produces."""

    batch_id: str
    table: pa.Table
    shocks_bp: NDArray[np.int64]
    loss_cents: NDArray[np.int64]  # (K, S)
    path_defaults: NDArray[np.int64]  # (K, S)
    rejects: list[Reject]
    objects: int
    matured: int
    defaults_applied: dict[str, int]
    overrides: dict[str, int]
    payment_mismatch: int
    payment_mismatch_causes: dict[str, int] = field(default_factory=dict)
    payment_mismatch_examples: list[dict[str, Any]] = field(default_factory=list)
    matured_loans: list[dict[str, Any]] = field(default_factory=list)
    #: per scenario, the loans whose ``WillDefault`` is ``YES``
    flagged_counts: list[int] = field(default_factory=list)

    @property
    def loans(self) -> int:
        return int(self.table.num_rows) // max(1, len(self.shocks_bp))

    def flagged(self) -> list[dict[str, int]]:
        """Per scenario, the loans whose ``WillDefault`` is ``YES``."""
        return [
            {"shock_bp": int(s), "flagged": c}
            for s, c in zip(self.shocks_bp.tolist(), self.flagged_counts, strict=True)
        ]


# --------------------------------------------------------------------------- buckets


RATE_BUCKETS = (("<4%", 4.0), ("4-6%", 6.0), ("6-8%", 8.0), ("8-10%", 10.0), (">=10%", math.inf))
TERM_BUCKETS = (
    ("<=12", 12),
    ("13-36", 36),
    ("37-60", 60),
    ("61-120", 120),
    ("121-240", 240),
    (">240", math.inf),
)
SIZE_BANDS = (
    ("<10k", 10e3),
    ("10k-50k", 50e3),
    ("50k-250k", 250e3),
    ("250k-1M", 1e6),
    (">=1M", math.inf),
)


def bucket_labels(
    values: NDArray[np.float64], buckets: Sequence[tuple[str, float]], *, right: bool = False
) -> NDArray[np.object_]:
    """Label each value with the first bucket whose upper bound exceeds it
    (``right``: is at least it)."""
    labels = np.array([name for name, _ in buckets], dtype=object)
    return np.asarray(labels[_bucket_index(values, buckets, right)], dtype=object)


def _bucket_index(
    values: NDArray[np.float64], buckets: Sequence[tuple[str, float]], right: bool
) -> NDArray[np.intp]:
    uppers = np.array([b for _, b in buckets], dtype=np.float64)
    idx = np.searchsorted(uppers, values, side="left" if right else "right")
    return np.minimum(idx, len(buckets) - 1)


# --------------------------------------------------------------------------- compute


def simulate_loans(
    loans: Sequence[Loan],
    rejects: Sequence[Reject],
    params: RunParams,
    *,
    batch_id: str,
    objects: int,
) -> BatchResult:
    """Run the model and the kernel on parsed loans, every scenario."""
    return simulate_arrays(
        LoanArrays.from_loans(loans),
        rejects,
        params,
        batch_id=batch_id,
        objects=objects,
        applied=defaults_applied(loans),
        overrides=overrides_used(loans),
    )


def simulate_arrays(
    arrays: LoanArrays,
    rejects: Sequence[Reject],
    params: RunParams,
    *,
    batch_id: str,
    objects: int,
    applied: dict[str, int],
    overrides: dict[str, int],
) -> BatchResult:
    """Run the model and the kernel on loans given as columns, every scenario."""
    mparams = model.ModelParams(kappa=params.kappa)
    base, matured = model.baseline(arrays, params.as_of, mparams)
    live = base.loans
    backend = get_backend(params.backend)
    loss_cents = np.rint(base.lgd * base.balance * 100.0).astype(np.int64)
    design = _path_design(params.seed, params.paths, params.estimator)
    rho = model.copula_correlation(base)  # a property of the borrower: once per batch
    scenarios = model.scenarios(base, params.shocks_bp, mparams, rho)
    results = backend.simulate(
        [KernelInputs(live.account_id, _threshold(sc), sc.rho, loss_cents) for sc in scenarios],
        seed=params.seed,
        mus=[sc.mu for sc in scenarios],
        design=design,
    )
    path_loss = np.stack([r.path_loss_cents for r in results]).astype(np.int64, copy=False)
    path_defaults = np.stack([r.path_defaults for r in results]).astype(np.int64, copy=False)
    norm = float(1 << design.scale_bits) * params.paths
    norm_sq = float(1 << sq_bits(params.paths)) * params.paths
    freqs = [r.loan_weighted / norm for r in results]
    # the rows in key order: the loans' columns permuted once (every value is computed),
    # and the batch's table built at once, one column per field over every scenario
    order = _key_order(live.keys)  # None: in key order already (the usual batch)
    if order is not None:
        base = _permuted(base, order)
        scenarios = [_permuted(sc, order) for sc in scenarios]
        freqs = [freq[order] for freq in freqs]
    table = _batch_table(
        base,
        scenarios,
        freqs,
        [_second_moment(r, norm_sq, order) for r in results],
        params,
        _fixed_columns(base),
    )
    mismatch, causes, examples = payment_quality(arrays)
    return BatchResult(
        batch_id=batch_id,
        table=table,
        shocks_bp=np.array(params.shocks_bp, dtype=np.int64),
        loss_cents=path_loss,
        path_defaults=path_defaults,
        rejects=sorted(rejects, key=lambda r: r.key),
        objects=objects,
        matured=matured,
        defaults_applied=applied,
        overrides=overrides,
        payment_mismatch=mismatch,
        payment_mismatch_causes=causes,
        payment_mismatch_examples=examples,
        matured_loans=matured_records(arrays, params.as_of) if matured else [],
        flagged_counts=[int(np.count_nonzero(f >= params.cutoff)) for f in freqs],
    )


def _threshold(scenario: model.Scenario) -> NDArray[np.float64]:
    """The scenario's ``Phi^-1(pd_repriced)``: as the model computed it, else here."""
    if scenario.threshold is not None:
        return scenario.threshold
    return np.asarray(special.ndtri(scenario.pd_repriced), dtype=np.float64)


@functools.lru_cache(maxsize=4)
def _path_design(seed: int, paths: int, estimator: str) -> PathDesign:
    """The run's factor draws and weights, made once per worker process, not per batch
    (its arrays made read-only, so a change would raise instead of leaking to later
    batches)."""
    design = path_design(seed, paths, estimator)
    for array in (design.z0, design.shift, design.weight, design.weight_units):
        array.flags.writeable = False
    return design


def _second_moment(
    result: KernelResult, norm_sq: float, order: NDArray[np.int64] | None
) -> NDArray[np.float64] | None:
    """Per loan ``sum_p w_p^2 D_ip / S`` (None from a backend that does not give it), in
    ``order`` (None: as they are)."""
    if result.loan_weighted_sq is None:
        return None
    sq = result.loan_weighted_sq if order is None else result.loan_weighted_sq[order]
    return np.asarray(sq / norm_sq, dtype=np.float64)


def _key_order(keys: NDArray[np.object_]) -> NDArray[np.int64] | None:
    """The permutation that sorts the loans by key (stably, by code point), or None when
    they are in that order already (no key before the one ahead of it)."""
    listed = keys.tolist()
    if listed == sorted(listed):  # str order is code point order; equal keys stay put
        return None
    ranks = pc.sort_indices(pa.array(listed, pa.string()))
    return np.asarray(ranks.to_numpy(), dtype=np.int64)


_T = TypeVar("_T", model.Baseline, model.Scenario)


def _permuted(obj: _T, order: NDArray[np.int64]) -> _T:
    """``obj`` with every per-loan array (and its loans' columns) in ``order``."""
    changes: dict[str, Any] = {}
    for name in (f.name for f in dataclasses.fields(obj)):
        value = getattr(obj, name)
        if isinstance(value, np.ndarray):
            changes[name] = value[order]
        elif isinstance(value, LoanArrays):
            changes[name] = value.take(order)
    return dataclasses.replace(obj, **changes)


def payment_quality(arrays: LoanArrays) -> tuple[int, dict[str, int], list[dict[str, Any]]]:
    """Payment mismatches: their number, count per likely cause, the first few by key."""
    term = arrays.term.astype(np.float64)
    mismatch, causes = mismatch_causes(arrays.payment, arrays.amount, arrays.rate, term)
    idx = np.flatnonzero(mismatch)
    counts: dict[str, int] = {}
    for cause in causes[idx].tolist():
        counts[cause] = counts.get(cause, 0) + 1
    first = sorted(idx.tolist(), key=lambda i: str(arrays.keys[i]))[:MAX_EXAMPLES]
    if not first:
        return int(idx.shape[0]), counts, []
    scheduled = model.annuity_payment(arrays.amount, arrays.rate, term)
    examples = [
        mismatch_example(
            str(arrays.keys[i]),
            int(arrays.account_id[i]),
            float(arrays.payment[i]),
            float(scheduled[i]),
            float(arrays.rate[i]),
            str(causes[i]),
        )
        for i in first
    ]
    return int(idx.shape[0]), counts, examples


def matured_records(arrays: LoanArrays, as_of: dt.date) -> list[dict[str, Any]]:
    """The loans left out as matured (remaining term <= 0), sorted by key."""
    elapsed = model.months_elapsed(arrays.orig_year, arrays.orig_month, arrays.orig_day, as_of)
    out = [
        {
            "key": str(arrays.keys[i]),
            "AccountID": int(arrays.account_id[i]),
            "OriginationDate": f"{int(arrays.orig_year[i]):04d}-"
            f"{int(arrays.orig_month[i]):02d}-{int(arrays.orig_day[i]):02d}",
            "LoanTerm": int(arrays.term[i]),
        }
        for i in np.flatnonzero(arrays.term - elapsed <= 0).tolist()
    ]
    return sorted(out, key=lambda r: r["key"])


def _labels(
    values: NDArray[np.float64], buckets: Sequence[tuple[str, float]], *, right: bool = False
) -> pa.Array:
    names = pa.array([name for name, _ in buckets], pa.string())
    return names.take(pa.array(_bucket_index(values, buckets, right)))


def _fixed_columns(base: model.Baseline) -> dict[str, pa.Array]:
    """The string columns that are the same in every scenario, built once per batch."""
    loans = base.loans
    n = len(loans)
    zips = pa.array(loans.zip_code.tolist() if n else [], pa.string())
    return {
        "key": pa.array(loans.keys.tolist(), pa.string()),
        "ZipCode": zips,
        "zip3": pc.utf8_slice_codeunits(zips, 0, 3),
        "LoanType": pc.if_else(pa.array(loans.commercial), "commercial", "personal"),
        "RateType": pc.if_else(pa.array(loans.fixed), "fixed", "variable"),
        "rate_bucket": _labels(loans.rate, RATE_BUCKETS),
        "term_bucket": _labels(loans.term.astype(np.float64), TERM_BUCKETS, right=True),
        "size_band": _labels(base.balance, SIZE_BANDS),
    }


def _batch_table(
    base: model.Baseline,
    scenarios: Sequence[model.Scenario],
    freqs: Sequence[NDArray[np.float64]],
    seconds: Sequence[NDArray[np.float64] | None],
    params: RunParams,
    text: dict[str, pa.Array],
) -> pa.Table:
    """Every scenario's rows, scenario after scenario, each in the loans' order; ``text``
    holds the loans' :func:`_fixed_columns`, ``freqs`` their (weighted) simulated default
    frequencies, ``seconds`` their weighted second moments ``sum_p w_p^2 D_ip / S``: the
    standard error is the weighted-variance one, ``sqrt((second - freq^2) / S)``
    (binomial when every weight is 1). Each column is one array over every scenario:
    per-loan values repeated, per-scenario ones joined."""
    loans = base.loans
    k, n = len(scenarios), len(loans)

    def each(values: NDArray[Any]) -> NDArray[Any]:  # the loans' values, every scenario
        # np.tile's values, without its Python steps
        return np.concatenate([values] * k) if k else values[:0]

    def joined(name: str) -> NDArray[Any]:  # a scenario field, scenario after scenario
        return np.concatenate([getattr(sc, name) for sc in scenarios])

    freq = np.concatenate(freqs)
    second = np.concatenate([f if s is None else s for f, s in zip(freqs, seconds, strict=True)])
    se = np.sqrt(np.maximum(second - freq * freq, 0.0) / params.paths)
    # not clipped at 1: a loan that defaults on every path gets the paths' mean weight,
    # which is 1 only on average (2 paths: up to about 1.5); clipped, the loans'
    # simulated losses would no longer add up to the portfolio's expected loss
    commercial = each(loans.commercial)
    balance, lgd, shocked_payment = each(base.balance), each(base.lgd), joined("shocked_payment")
    payment = each(base.payment)
    shocks = np.array([sc.shock_bp for sc in scenarios], dtype=np.int64)
    columns: dict[str, Any] = {
        "AccountID": pa.array(each(loans.account_id), pa.int64()),
        "shock_bp": pa.array(np.repeat(shocks, n)),
        "rate": pa.array(each(loans.rate), _F64),
        "shocked_rate": pa.array(joined("shocked_rate"), _F64),
        "loan_amount": pa.array(each(loans.amount), _F64),
        "balance": pa.array(balance, _F64),
        "remaining_term": pa.array(each(base.remaining_term), pa.int64()),
        "payment": pa.array(payment, _F64),
        "shocked_payment": pa.array(shocked_payment, _F64),
        "payment_change": pa.array(shocked_payment - payment, _F64),
        "dti": pa.array(joined("dti"), _F64, mask=commercial),
        "dscr": pa.array(joined("dscr"), _F64, mask=~commercial),
        "crossed": pa.array(joined("crossed"), pa.bool_()),
        "credit_score": pa.array(each(loans.credit_score), _F64),
        "pd0": pa.array(each(base.pd0), _F64),
        "pd_repriced": pa.array(joined("pd_repriced"), _F64),
        "pd_stressed": pa.array(joined("pd_stressed"), _F64),
        "rho": pa.array(joined("rho"), _F64),
        "sim_default_freq": pa.array(freq, _F64),
        "sim_default_se": pa.array(se, _F64),
        "lgd": pa.array(lgd, _F64),
        "ead": pa.array(balance, _F64),
        "expected_loss": pa.array(joined("expected_loss"), _F64),
        "sim_expected_loss": pa.array(freq * lgd * balance, _F64),
        "irb_capital": pa.array(joined("irb_capital"), _F64),
        "WillDefault": pc.if_else(pa.array(freq >= params.cutoff), "YES", "NO"),
    }
    columns |= {name: pa.concat_arrays([arr] * k) for name, arr in text.items()}
    return pa.table({name: columns[name] for name in _COLUMN_ORDER})


#: The columns of a batch's rows, in order (docs/model.md).
_COLUMN_ORDER = (
    "key", "AccountID", "ZipCode", "zip3", "LoanType", "RateType", "shock_bp", "rate",
    "shocked_rate", "loan_amount", "balance", "remaining_term", "payment", "shocked_payment",
    "payment_change", "dti", "dscr", "crossed", "credit_score", "pd0", "pd_repriced",
    "pd_stressed", "rho", "sim_default_freq", "sim_default_se", "lgd", "ead", "expected_loss",
    "sim_expected_loss", "irb_capital", "rate_bucket", "term_bucket", "size_band", "WillDefault",
)  # fmt: skip


# --------------------------------------------------------------------------- I/O


def batch_id_for(items: Sequence[Item]) -> str:
    """A stable id from the batch's object keys (a retried batch reuses it)."""
    text = "".join([f"{bucket}/{key}\n" for bucket, key in items])  # one update: same digest
    return f"b-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def read_and_parse(store: ObjectStore, items: Sequence[Item], params: RunParams) -> ParsedObjects:
    """Read the batch's objects and parse them into columns (rejects in item order)."""
    bodies = read_objects(store, items)
    return parse_objects([item.key for item in items], bodies, params.as_of)


def write_batch(store: ObjectStore, params: RunParams, result: BatchResult) -> str:
    """Write the batch outputs (``batch.json`` last); returns the batch folder's key."""
    # an uncompressed Arrow IPC file, one record batch per scenario (batch_rows.py): a
    # copy of the columns, where Parquet's encoding cost a fifth of the batch's CPU
    rows = encode_rows_bytes(result.table, len(result.shocks_bp))
    loans_key = params.batch_key(result.batch_id, LOANS_FILE)
    # no ETag back (none is used): a local store leaves the MD5 until something asks for it
    try:
        store.put_no_etag(params.output_bucket, loans_key, rows)
    except ObjectStoreError as exc:  # the bucket is made once, not asked for every batch
        if exc.code != "NoSuchBucket":
            raise
        store.create_bucket(params.output_bucket)
        store.put_no_etag(params.output_bucket, loans_key, rows)
    paths = npz_bytes(  # np.savez's bytes, its archive made once per worker
        {
            "shocks_bp": result.shocks_bp,
            "loss_cents": result.loss_cents,
            "defaults": result.path_defaults,
        }
    )
    store.put_no_etag(params.output_bucket, params.batch_key(result.batch_id, "paths.npz"), paths)
    doc = {
        "format": 1,
        "batch_id": result.batch_id,
        "run": params.fingerprint(),
        "params": params.to_batch_input(),
        "objects": result.objects,
        "loans": result.loans,
        "rejected": len(result.rejects),
        "matured": result.matured,
        "defaults_applied": result.defaults_applied,
        "overrides": result.overrides,
        "payment_mismatch": result.payment_mismatch,
        "payment_mismatch_causes": result.payment_mismatch_causes,
        "payment_mismatch_examples": result.payment_mismatch_examples,
        "matured_loans": result.matured_loans,
        "rejects": [{"key": r.key, "reason": r.reason} for r in result.rejects],
    }
    store.put_no_etag(
        params.output_bucket,
        params.batch_key(result.batch_id, "batch.json"),
        json.dumps(doc, separators=(",", ":")).encode(),  # compact: the C encoder
    )
    return params.batch_key(result.batch_id, "")


def parse_items(value: Any) -> list[Item]:
    """Validate the batch's ``Items``: objects with string ``Bucket`` and ``Key``."""
    if not isinstance(value, list) or not value:
        raise BatchInputError("Items must be a non-empty list of {Bucket, Key} objects")
    plain = _plain_items(value)
    if plain is not None:
        return plain
    items = []
    for i, entry in enumerate(value):
        # type() first: a plain dict (every item a workflow sends) skips the ABC check
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise BatchInputError(f"Items[{i}] must be an object, got {type(entry).__name__}")
        bucket, key = entry.get("Bucket"), entry.get("Key")
        if not isinstance(bucket, str) or not bucket:
            raise BatchInputError(f"Items[{i}].Bucket must be a non-empty string")
        if not isinstance(key, str) or not key:
            raise BatchInputError(f"Items[{i}].Key must be a non-empty string")
        items.append(Item(bucket, key))
    return items


def _plain_items(value: list[Any]) -> list[Item] | None:
    """The items of a list of plain dicts whose ``Bucket`` and ``Key`` are non-empty
    ``str`` (what a workflow sends), checked over the whole list at once; None for
    anything else (:func:`parse_items` then looks at each item, and names the bad one)."""
    if set(map(type, value)) != {dict}:
        return None
    buckets = list(map(dict.get, value, itertools.repeat("Bucket")))
    keys = list(map(dict.get, value, itertools.repeat("Key")))
    for column in (buckets, keys):
        if set(map(type, column)) != {str} or not all(column):
            return None
    return list(map(_new_item, zip(buckets, keys, strict=True)))


#: ``Item((bucket, key))`` without the Python-level ``__new__`` of a named tuple.
_new_item = functools.partial(tuple.__new__, Item)


def default_store() -> ObjectStore:
    """``MONTEMAP_DATA_DIR`` (local, ``<dir>/buckets``) or ``MONTEMAP_STORE`` (any store spec)."""
    data_dir = os.environ.get("MONTEMAP_DATA_DIR")
    if data_dir:
        return _store_for(os.path.abspath(data_dir))
    spec = os.environ.get("MONTEMAP_STORE")
    if spec:
        return _store_for(spec)
    raise BatchInputError(
        "no object store: set MONTEMAP_DATA_DIR (a data directory) or MONTEMAP_STORE "
        "(e.g. s3://) in the worker's environment"
    )


@functools.lru_cache(maxsize=8)
def _store_for(spec: str) -> ObjectStore:
    """One store per spec and process: a worker's batches share its clients."""
    return open_store(spec)


def process_batch(
    event: Any, read_store: ObjectStore, write_store: ObjectStore | None = None
) -> dict[str, Any]:
    """Handle one batch event reading loans from one store and writing to another."""
    started = time.monotonic()
    if not isinstance(event, Mapping):
        raise BatchInputError(f"the batch event must be an object, got {type(event).__name__}")
    items = parse_items(event.get("Items"))
    params, batch_id = parse_batch_input(event.get("BatchInput"))
    batch_id = batch_id or batch_id_for(items)
    try:
        get_backend(params.backend)
    except ValueError as exc:
        raise BatchInputError(str(exc))
    parsed = read_and_parse(read_store, items, params)
    result = simulate_arrays(
        parsed.arrays,
        parsed.rejects,
        params,
        batch_id=batch_id,
        objects=len(items),
        applied=parsed.defaults_applied,
        overrides=parsed.overrides,
    )
    folder = write_batch(write_store or read_store, params, result)
    return {
        "batch_id": batch_id,
        "objects": result.objects,
        "loans": result.loans,
        "rejected": len(result.rejects),
        "matured": result.matured,
        "flagged": result.flagged(),
        "output": f"s3://{params.output_bucket}/{folder}",
        "seconds": round(time.monotonic() - started, 3),
    }


def handle_batch(
    event: Any, context: Any = None, *, store: ObjectStore | None = None
) -> dict[str, Any]:
    """The worker entry point (Lambda-style signature); ``store`` defaults to the environment's.

    With ``MONTEMAP_DROP_OBJECT_PAGES=1`` in the worker's environment (``montemap run``
    sets it for a portfolio too large to stay cached: ``credit/page_cache.py``), each loan
    object's pages leave the page cache once read."""
    try:
        drop = page_cache.drop_requested()
    except ValueError as exc:
        raise BatchInputError(f"the worker's environment: {exc}")
    drop_after_reading(drop)
    return process_batch(event, store if store is not None else default_store())
