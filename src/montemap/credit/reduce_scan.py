"""The reduction's first pass and its checks: one batch at a time, never all loans.

:func:`scan_batches` reads each batch's ``batch.json``, ``paths.npz`` and the key and
AccountID columns of its first scenario, and keeps only path-level sums, data-quality
counters and a few numbers per batch (:class:`BatchInfo`). The canonical order of the
outputs is by key; batches whose key ranges do not overlap are emitted one after the
other (:func:`key_groups`), overlapping ones are merged together (a generated portfolio's
batches never overlap; a tape's row keys ``name#1``, ``name#10``, ... do). AccountIDs
are checked for repeats through hash partitions on disk (:class:`AccountSpill`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from montemap.credit.batch_rows import BatchRows, open_batch_rows
from montemap.credit.loans import OPTIONAL
from montemap.credit.params import RunParams
from montemap.credit.quality import QualityTotals, duplicate_accounts_error
from montemap.credit.reduce_npz import read_npz
from montemap.credit.reduce_prefetch import prefetched
from montemap.errors import MontemapError
from montemap.storage import ObjectStore, ObjectStoreError


class ReduceError(MontemapError):
    """Batch outputs that cannot be combined (missing, mixed runs, overlapping)."""


#: Loans per AccountID partition on disk.
PARTITION_LOANS = 100_000
_SPILL = np.dtype([("account", "<i8"), ("batch", "<i4"), ("row", "<i4")])


@dataclass
class BatchInfo:
    """What the first pass keeps of one batch."""

    batch_id: str
    position: int
    rows: list[int]  # rows per scenario
    distinct: int  # distinct keys among the first scenario's rows
    low: str | None = None  # smallest key of its loans, rejects and matured loans
    high: str | None = None


@dataclass
class Scan:
    """The first pass's result: path sums, quality counters and the batches."""

    loss: NDArray[np.int64]
    defaults: NDArray[np.int64]
    quality: QualityTotals
    batches: list[BatchInfo] = field(default_factory=list)
    rejected: int = 0


def batch_rows(store: ObjectStore, params: RunParams, batch_id: str) -> BatchRows:
    """A batch's per-loan rows (``loans.arrow``, or ``loans.parquet`` of earlier versions)."""
    try:
        return open_batch_rows(
            store, params.output_bucket, params.batch_key(batch_id, ""), params.shocks_bp
        )
    except ObjectStoreError as exc:
        raise ReduceError(f"batch {batch_id}: {exc}")
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ReduceError(f"batch {batch_id}: unreadable output: {exc}")


def rows_of(
    rows: BatchRows, batch_id: str, index: int, columns: Sequence[str] | None = None
) -> pa.Table:
    """Scenario ``index``'s rows of an opened batch (only ``columns`` when given)."""
    try:
        return rows.scenario(index, columns)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ReduceError(f"batch {batch_id}: unreadable output: {exc}")


def scenario_rows(
    store: ObjectStore,
    params: RunParams,
    batch_id: str,
    shock: int,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """One batch's rows of one scenario."""
    index = list(params.shocks_bp).index(shock)
    return rows_of(batch_rows(store, params, batch_id), batch_id, index, columns)


def read_meta(store: ObjectStore, params: RunParams, batch_id: str) -> dict[str, Any]:
    """A batch's ``batch.json``."""
    try:
        meta = json.loads(store.get(params.output_bucket, params.batch_key(batch_id, "batch.json")))
    except ObjectStoreError as exc:
        raise ReduceError(f"batch {batch_id}: {exc}")
    except ValueError as exc:
        raise ReduceError(f"batch {batch_id}: unreadable output: {exc}")
    if not isinstance(meta, dict):
        raise ReduceError(f"batch {batch_id}: unreadable output: batch.json is not an object")
    return meta


def _read_paths(
    store: ObjectStore, params: RunParams, batch_id: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    try:
        raw = store.get(params.output_bucket, params.batch_key(batch_id, "paths.npz"))
        shocks, loss, defaults = read_npz(raw, ("shocks_bp", "loss_cents", "defaults"))
        return shocks, loss, defaults
    except ObjectStoreError as exc:
        raise ReduceError(f"batch {batch_id}: {exc}")
    except (ValueError, OSError, KeyError) as exc:
        raise ReduceError(f"batch {batch_id}: unreadable output: {exc}")


@dataclass
class _Loaded:
    """One batch's inputs to pass 1, read ahead; a part that could not be read holds
    its error, raised when the part is used (so errors come in the order of the checks)."""

    batch_id: str
    meta: dict[str, Any] | ReduceError
    paths: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]] | ReduceError
    counts: list[int] | ReduceError = field(default_factory=list)
    first: pa.Table | None = None


def _part(value: Any) -> Any:
    if isinstance(value, ReduceError):
        raise value
    return value


def _load(store: ObjectStore, params: RunParams, batch_id: str) -> _Loaded:
    def attempt(read: Any) -> Any:
        try:
            return read(store, params, batch_id)
        except ReduceError as exc:
            return exc

    loaded = _Loaded(batch_id, attempt(read_meta), attempt(_read_paths))
    try:
        with batch_rows(store, params, batch_id) as rows:
            loaded.counts = _row_counts(rows, batch_id, loaded.meta, len(params.shocks_bp))
            if loaded.counts[0]:
                loaded.first = rows_of(rows, batch_id, 0, ["key", "AccountID"])
    except ReduceError as exc:
        loaded.counts = exc
    return loaded


def _row_counts(
    rows: BatchRows, batch_id: str, meta: dict[str, Any] | ReduceError, scenarios: int
) -> list[int]:
    """Rows per scenario: ``batch.json``'s loan count for a ``loans.arrow`` (one record
    batch of that many rows per scenario, checked as pass 2 reads them), else the file's."""
    if not rows.legacy and isinstance(meta, dict) and isinstance(meta.get("loans"), int):
        return [int(meta["loans"])] * scenarios
    try:
        return rows.row_counts()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ReduceError(f"batch {batch_id}: unreadable output: {exc}")


def scan_batches(
    store: ObjectStore, params: RunParams, ids: Sequence[str], spill: AccountSpill
) -> Scan:
    """Pass 1: check and sum every batch's path vectors, count its rows and record its
    key range, spilling the first scenario's AccountIDs for the repeat check. The
    batches' files are read on a second thread, a few batches ahead."""
    fingerprint = params.fingerprint()
    k, s = len(params.shocks_bp), params.paths
    scan = Scan(np.zeros((k, s), np.int64), np.zeros((k, s), np.int64), QualityTotals(OPTIONAL))
    with closing(prefetched((_load(store, params, b) for b in ids), depth=8)) as loads:
        for position, loaded in enumerate(loads):
            batch_id = loaded.batch_id
            meta = _part(loaded.meta)
            if meta.get("run") != fingerprint:
                raise ReduceError(
                    f"batch {batch_id} was produced with other run parameters "
                    f"({meta.get('params')}); clear the run prefix or use a new one"
                )
            shocks, loss, defaults = _part(loaded.paths)
            if list(shocks) != list(params.shocks_bp) or loss.shape != (k, s):
                raise ReduceError(
                    f"batch {batch_id}: loss vectors do not match the run's scenarios/paths"
                )
            scan.loss += loss
            scan.defaults += defaults
            scan.quality.add(meta)
            scan.rejected += len(meta["rejects"])
            info = BatchInfo(batch_id, position, _part(loaded.counts), 0)
            keys = [str(r["key"]) for r in meta["rejects"]]
            keys += [str(r["key"]) for r in meta.get("matured_loans", [])]
            if info.rows[0] and loaded.first is not None:
                first = loaded.first
                info.distinct = int(pc.count_distinct(first.column("key")).as_py())
                bounds = pc.min_max(first.column("key")).as_py()
                keys += [str(bounds["min"]), str(bounds["max"])]
                spill.add(first.column("AccountID").to_numpy(), position)
            if keys:
                info.low, info.high = min(keys), max(keys)
            scan.batches.append(info)
    return scan


def key_groups(batches: Sequence[BatchInfo]) -> list[list[BatchInfo]]:
    """The batches in groups of overlapping key ranges, groups in key order, each group's
    batches in their original order (so equal keys keep the order of a global stable sort)."""
    ranged = sorted((b for b in batches if b.low is not None), key=lambda b: (b.low, b.position))
    groups: list[list[BatchInfo]] = []
    high = ""
    for info in ranged:
        assert info.low is not None and info.high is not None
        if groups and info.low <= high:
            groups[-1].append(info)
            high = max(high, info.high)
        else:
            groups.append([info])
            high = info.high
    return [sorted(g, key=lambda b: b.position) for g in groups]


class AccountSpill:
    """AccountIDs with their batch and row, in hash partitions on disk, for the repeat
    check in bounded memory (one partition at a time)."""

    def __init__(self, root: Path, batches: int) -> None:
        self.parts = max(1, (batches * 400) // PARTITION_LOANS + 1)
        self.root = root
        self._files = [open(root / f"accounts-{p}.bin", "wb") for p in range(self.parts)]  # noqa: SIM115

    def add(self, accounts: NDArray[np.int64], batch: int) -> None:
        rec = np.empty(accounts.shape[0], dtype=_SPILL)
        rec["account"] = accounts
        rec["batch"] = batch
        rec["row"] = np.arange(accounts.shape[0])
        part = np.remainder(accounts, self.parts)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.parts + 1))
        for p in range(self.parts):
            if bounds[p + 1] > bounds[p]:
                self._files[p].write(rec[order[bounds[p] : bounds[p + 1]]].tobytes())

    def close(self) -> None:
        for f in self._files:
            f.close()

    def repeats(self) -> Iterator[NDArray[np.void]]:
        """Per partition, the records of AccountIDs that occur more than once."""
        self.close()
        for p in range(self.parts):
            rec = np.fromfile(self.root / f"accounts-{p}.bin", dtype=_SPILL)
            if rec.shape[0] < 2:
                continue
            rec = rec[np.argsort(rec["account"], kind="stable")]
            same = rec["account"][1:] == rec["account"][:-1]
            if same.any():
                dup = np.zeros(rec.shape[0], dtype=bool)
                dup[1:] |= same
                dup[:-1] |= same
                yield rec[dup]


def check_accounts(store: ObjectStore, params: RunParams, scan: Scan, spill: AccountSpill) -> None:
    """Refuse repeated AccountIDs, naming the first few with their keys."""
    found = list(spill.repeats())
    if not found:
        return
    rec = np.concatenate(found)
    values = sorted(set(rec["account"].tolist()))
    named = rec[np.isin(rec["account"], values[:5])]
    keys: dict[int, list[str]] = {}
    for batch in sorted(set(named["batch"].tolist())):
        info = scan.batches[batch]
        table = scenario_rows(store, params, info.batch_id, params.shocks_bp[0], ["key"])
        column = table.column("key")
        for r in named[named["batch"] == batch]:
            keys.setdefault(int(r["account"]), []).append(str(column[int(r["row"])].as_py()))
    raise duplicate_accounts_error(values, {v: sorted(k) for v, k in keys.items()})


def open_spill_dir() -> tempfile.TemporaryDirectory[str]:
    """Scratch space for the reduction's spills (AccountIDs, per-loan contributions)."""
    return tempfile.TemporaryDirectory(prefix="montemap-reduce-")
