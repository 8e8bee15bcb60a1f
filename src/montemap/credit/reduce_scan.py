"""The reduction's first pass and its checks: one batch at a time, never all loans.

:func:`scan_batches` reads each batch's ``batch.json``, ``paths.npz`` and the key and
AccountID columns of its first scenario, and keeps only path-level sums, data-quality
counters and a few numbers per batch, in arrays (:class:`BatchTable`: no Python object
per batch: ~150 bytes a batch, where a ``BatchInfo`` a batch took ~560). The canonical
order of the outputs is by key; batches whose key ranges do not overlap are emitted one
after the other (:func:`key_groups`), overlapping ones are merged together (a generated
portfolio's batches never overlap; a tape's row keys ``name#1``, ``name#10``, ... do).
AccountIDs are checked for repeats through hash partitions on disk (:class:`AccountSpill`).

The pass runs in two processes where the store is local (:mod:`reduce_fork`): a forked
helper reads batches from the end while this process reads them from the start, and
hands back its part (:class:`~montemap.credit.reduce_scan_part.HelperPart`), joined
exactly; a helper that fails leaves its batches to this process, which then meets the
same error a single process would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing
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
from montemap.credit.reduce_fork import Helping, Split, can_fork
from montemap.credit.reduce_npz import read_npz
from montemap.credit.reduce_prefetch import prefetched
from montemap.credit.reduce_scan_part import HelperPart, merge_quality
from montemap.errors import MontemapError
from montemap.scratch_dirs import owned_temp_dir
from montemap.storage import LocalObjectStore, ObjectStore, ObjectStoreError


class ReduceError(MontemapError):
    """Batch outputs that cannot be combined (missing, mixed runs, overlapping)."""


#: Loans per AccountID partition on disk.
PARTITION_LOANS = 100_000
_SPILL = np.dtype([("account", "<i8"), ("batch", "<i4"), ("row", "<i4")])


#: AccountID records held before they go to their partitions on disk (512 KB).
SPILL_RECORDS = 1 << 15
#: Batches whose keys are turned into one Arrow array at a time.
_STEP = 1024
#: Batches from which the first pass forks a helper process (a fork and its copied
#: pages cost a few milliseconds; a batch ~1 ms).
HELPER_BATCHES = 32


@dataclass(slots=True)
class BatchInfo:
    """One batch as the first pass saw it (made from a :class:`BatchTable` when used)."""

    batch_id: str
    position: int
    rows: list[int]  # rows per scenario
    distinct: int  # distinct keys among the first scenario's rows
    low: str | None = None  # smallest key of its loans, rejects and matured loans
    high: str | None = None


def _key_bytes(key: str) -> bytes:
    """A key as bytes that sort as the string does (UTF-8; a lone surrogate, which JSON
    can carry, keeps its place as well)."""
    return key.encode("utf-8", "surrogatepass")


def _key_str(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogatepass")


class _KeyColumn:
    """Optional keys appended one at a time, kept as Arrow binary arrays of ``_STEP``."""

    def __init__(self) -> None:
        self._done: list[pa.Array] = []
        self._pending: list[bytes | None] = []

    def append(self, key: str | None) -> None:
        self._pending.append(None if key is None else _key_bytes(key))
        if len(self._pending) >= _STEP:
            self._seal()

    def _seal(self) -> None:
        self._done.append(pa.array(self._pending, pa.binary()))
        self._pending = []

    def extend(self, keys: pa.Array) -> None:
        """Append keys already made into an Arrow binary array."""
        self._seal()
        self._done.append(keys)

    def finish(self) -> pa.Array:
        self._seal()
        return pa.concat_arrays(self._done)


class BatchTable:
    """What the first pass keeps of the batches, as arrays indexed by the batch's
    position (its place in the run's batch order): ids, rows per scenario, distinct keys
    among the first scenario's rows, and the key range (``low``/``high``: Arrow binary
    arrays, null for a batch with no loan, reject or matured loan; bytes compare as the
    keys do). :meth:`infos` makes :class:`BatchInfo` views a few thousand at a time."""

    def __init__(self, ids: pa.Array, scenarios: int) -> None:
        self.ids = ids
        self.rows = np.zeros((len(ids), scenarios), np.int64)
        self.distinct = np.zeros(len(ids), np.int64)
        self._low, self._high = _KeyColumn(), _KeyColumn()
        self.low: pa.Array = pa.nulls(0, pa.binary())
        self.high: pa.Array = pa.nulls(0, pa.binary())
        self._order: NDArray[np.intp] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def ranged(self, low: str | None, high: str | None) -> None:
        """The next batch's key range (during the scan, batch by batch)."""
        self._low.append(low)
        self._high.append(high)

    def ranged_many(self, low: pa.Array, high: pa.Array) -> None:
        """The next batches' key ranges, as Arrow binary arrays."""
        self._low.extend(low)
        self._high.extend(high)

    def finish(self) -> None:
        """Seal the key ranges once every batch's is in."""
        self.low, self.high = self._low.finish(), self._high.finish()
        self._low, self._high = _KeyColumn(), _KeyColumn()
        self._order = None

    def batch_id(self, position: int) -> str:
        return str(self.ids[position].as_py())

    def key_order(self) -> NDArray[np.intp]:
        """Positions of the batches with a key range, by smallest key, then position
        (sorted once, after :meth:`finish`)."""
        if self._order is None:
            table = pa.table({"low": self.low, "position": pa.array(np.arange(len(self)))})
            order = pc.sort_indices(table, [("low", "ascending"), ("position", "ascending")])
            # nulls (batches without a key range) sort last
            ranged = len(self) - self.low.null_count
            self._order = np.asarray(order.slice(0, ranged).to_numpy(), np.intp)
        return self._order

    def infos(self, positions: NDArray[np.intp]) -> Iterator[BatchInfo]:
        """Views of the batches at ``positions``, in that order."""
        for start in range(0, positions.shape[0], _STEP):
            part = positions[start : start + _STEP]
            index = pa.array(part)
            columns = zip(
                part.tolist(),
                self.ids.take(index).to_pylist(),
                self.rows[part].tolist(),
                self.distinct[part].tolist(),
                self.low.take(index).to_pylist(),
                self.high.take(index).to_pylist(),
                strict=True,
            )
            for position, batch_id, rows, distinct, low, high in columns:
                yield BatchInfo(batch_id, position, rows, distinct, _key_str(low), _key_str(high))


def id_array(ids: Iterable[str]) -> pa.Array:
    """Batch ids as one Arrow string array (no Python object per batch)."""
    return pa.array(ids if isinstance(ids, list | tuple) else list(ids), pa.string())


@dataclass
class Scan:
    """The first pass's result: path sums, quality counters and the batches."""

    loss: NDArray[np.int64]
    defaults: NDArray[np.int64]
    quality: QualityTotals
    batches: BatchTable
    rejected: int = 0
    helped: int = 0  # batches read by the helper process (:func:`scan_batches`)

    @property
    def loans(self) -> int:
        """Loans of the run (rows of the first scenario)."""
        return int(self.batches.rows[:, 0].sum()) if len(self.batches) else 0


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


def scan_batches(store: ObjectStore, params: RunParams, ids: pa.Array, spill: AccountSpill) -> Scan:
    """Pass 1: check and sum every batch's path vectors, count its rows and record its
    key range (``ids``: the batch ids in order, :func:`id_array`), spilling the first
    scenario's AccountIDs for the repeat check. The batches' files are read on a second
    thread, a few batches ahead; where the store is local and the batches many, a forked
    helper process reads the last ones at the same time (:func:`_start_helper`)."""
    fingerprint = params.fingerprint()
    scan = _new_scan(params, ids)
    helping = _start_helper(store, params, fingerprint, ids, spill)
    try:
        split = helping.helper.split if helping is not None else None
        done = _scan_from(store, params, fingerprint, ids, spill, scan, 0, split)
        # the helper took the batches from ``done`` on, unless it failed before any
        part = helping.helper.result() if helping is not None and done < len(ids) else None
        if helping is not None and part is not None and part.first == done:
            part.join(scan)
            spill.adopt(helping.folder)
            helping.adopted = True
            done = len(ids)
        _scan_from(store, params, fingerprint, ids, spill, scan, done, None)
    finally:
        if helping is not None:
            helping.close()
    scan.batches.finish()
    return scan


def _new_scan(params: RunParams, ids: pa.Array) -> Scan:
    k, s = len(params.shocks_bp), params.paths
    return Scan(
        np.zeros((k, s), np.int64),
        np.zeros((k, s), np.int64),
        QualityTotals(OPTIONAL),
        BatchTable(ids, k),
    )


def _scan_from(
    store: ObjectStore,
    params: RunParams,
    fingerprint: str,
    ids: pa.Array,
    spill: AccountSpill,
    scan: Scan,
    start: int,
    split: Split | None,
) -> int:
    """Scan the batches from ``start`` on, in order (with ``split``: those the helper
    has not taken); the position after the last one scanned."""
    position = start
    loading = (_load(store, params, b) for b in _each_id(ids, start, split))
    with closing(prefetched(loading, depth=8)) as loads:
        for position, loaded in enumerate(loads, start + 1):
            bounds = _scan_one(scan, params, fingerprint, position - 1, loaded, spill, scan.quality)
            scan.batches.ranged(*bounds)
    return position


def _each_id(ids: pa.Array, start: int, split: Split | None) -> Iterator[str]:
    position = start
    for first in range(start, len(ids), _STEP):
        for batch_id in ids.slice(first, _STEP).to_pylist():
            if split is not None and not split.take_front(position):
                return
            position += 1
            yield batch_id


def _scan_one(
    scan: Scan,
    params: RunParams,
    fingerprint: str,
    position: int,
    loaded: _Loaded,
    spill: AccountSpill,
    quality: QualityTotals,
) -> tuple[str | None, str | None]:
    """Add one batch to ``scan`` (its quality figures to ``quality``); its key range."""
    batch_id = loaded.batch_id
    meta = _part(loaded.meta)
    if meta.get("run") != fingerprint:
        raise ReduceError(
            f"batch {batch_id} was produced with other run parameters "
            f"({meta.get('params')}); clear the run prefix or use a new one"
        )
    shocks, loss, defaults = _part(loaded.paths)
    if list(shocks) != list(params.shocks_bp) or loss.shape != scan.loss.shape:
        raise ReduceError(f"batch {batch_id}: loss vectors do not match the run's scenarios/paths")
    scan.loss += loss
    scan.defaults += defaults
    quality.add(meta)
    scan.rejected += len(meta["rejects"])
    counts = _part(loaded.counts)
    scan.batches.rows[position] = counts
    keys = [str(r["key"]) for r in meta["rejects"]]
    keys += [str(r["key"]) for r in meta.get("matured_loans", [])]
    if counts[0] and loaded.first is not None:
        first = loaded.first
        scan.batches.distinct[position] = int(pc.count_distinct(first.column("key")).as_py())
        bounds = pc.min_max(first.column("key")).as_py()
        keys += [str(bounds["min"]), str(bounds["max"])]
        spill.add(first.column("AccountID").to_numpy(), position)
    return (min(keys), max(keys)) if keys else (None, None)


def _start_helper(
    store: ObjectStore, params: RunParams, fingerprint: str, ids: pa.Array, spill: AccountSpill
) -> Helping | None:
    """A helper for these batches, started; ``None`` where there is none to fork (few
    batches, a store other than a local one: an S3 client's connections are not to be
    shared with a fork; not Linux)."""
    if len(ids) < HELPER_BATCHES or not isinstance(store, LocalObjectStore) or not can_fork():
        return None

    def work(split: Split, folder: Path) -> HelperPart:
        return _help(store, params, fingerprint, ids, split, folder)

    return Helping.start(spill.root, len(ids), work)


def _help(
    store: ObjectStore,
    params: RunParams,
    fingerprint: str,
    ids: pa.Array,
    split: Split,
    folder: Path,
) -> HelperPart:
    """The helper's work (in the forked process): the batches from the end down, while
    the split gives them, each as the parent would scan it."""
    scan = _new_scan(params, ids)
    spill = AccountSpill(folder, len(ids))
    quality = QualityTotals(OPTIONAL)
    lows: list[bytes | None] = []
    highs: list[bytes | None] = []
    first = len(ids)
    while (position := split.take_back()) is not None:
        loaded = _load(store, params, str(ids[position].as_py()))
        mine = QualityTotals(OPTIONAL)
        low, high = _scan_one(scan, params, fingerprint, position, loaded, spill, mine)
        quality = merge_quality(mine, quality)  # this batch comes before those done
        lows.append(None if low is None else _key_bytes(low))
        highs.append(None if high is None else _key_bytes(high))
        first = position
    spill.close()
    return HelperPart.of(scan, first, quality, lows[::-1], highs[::-1])


def key_groups(table: BatchTable) -> Iterator[NDArray[np.intp]]:
    """The positions of the batches in groups of overlapping key ranges, in key order
    (:meth:`BatchTable.key_order`: by smallest key, then position, so equal keys keep
    the order of a global stable sort)."""
    order = table.key_order()
    first, high = 0, b""
    for start in range(0, order.shape[0], _STEP):
        index = pa.array(order[start : start + _STEP])
        lows, highs = table.low.take(index).to_pylist(), table.high.take(index).to_pylist()
        for i, (low, top) in enumerate(zip(lows, highs, strict=True), start):
            if i > first and low <= high:
                high = max(high, top)
            else:
                if i > first:
                    yield order[first:i]
                first, high = i, top
    if order.shape[0] > first:
        yield order[first:]


class AccountSpill:
    """AccountIDs with their batch and row, in hash partitions on disk, for the repeat
    check in bounded memory (one partition at a time). Records are held up to
    ``SPILL_RECORDS`` and then appended to their partitions' files, opened only then
    (no open file, nor its buffer, per partition). The partitions of another spill of
    as many batches (the first pass's helper's) can be adopted: they are read with these."""

    def __init__(self, root: Path, batches: int) -> None:
        self.parts = max(1, (batches * 400) // PARTITION_LOANS + 1)
        self.root = root
        self._held: list[NDArray[np.void]] = []
        self._count = 0
        self._adopted: list[Path] = []

    def _path(self, part: int, root: Path | None = None) -> Path:
        return (root or self.root) / f"accounts-{part}.bin"

    def adopt(self, root: Path) -> None:
        """Read the partitions written in ``root`` (by a spill of as many batches) too."""
        self._adopted.append(root)

    def add(self, accounts: NDArray[np.int64], batch: int) -> None:
        rec = np.empty(accounts.shape[0], dtype=_SPILL)
        rec["account"] = accounts
        rec["batch"] = batch
        rec["row"] = np.arange(accounts.shape[0])
        self._held.append(rec)
        self._count += rec.shape[0]
        if self._count >= SPILL_RECORDS:
            self._write()

    def _write(self) -> None:
        if not self._held:
            return
        rec = np.concatenate(self._held)
        self._held, self._count = [], 0
        part = np.remainder(rec["account"], self.parts)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.parts + 1))
        for p in np.flatnonzero(np.diff(bounds)).tolist():
            with open(self._path(p), "ab") as f:
                f.write(rec[order[bounds[p] : bounds[p + 1]]].tobytes())

    def close(self) -> None:
        """Write what is held (again: no effect)."""
        self._write()

    def repeats(self) -> Iterator[NDArray[np.void]]:
        """Per partition, the records of AccountIDs that occur more than once."""
        self.close()
        for p in range(self.parts):
            paths = [self._path(p, root) for root in (self.root, *self._adopted)]
            found = [np.fromfile(path, dtype=_SPILL) for path in paths if path.exists()]
            if not found:
                continue
            rec = found[0] if len(found) == 1 else np.concatenate(found)
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
        batch_id = scan.batches.batch_id(batch)
        table = scenario_rows(store, params, batch_id, params.shocks_bp[0], ["key"])
        column = table.column("key")
        for r in named[named["batch"] == batch]:
            keys.setdefault(int(r["account"]), []).append(str(column[int(r["row"])].as_py()))
    raise duplicate_accounts_error(values, {v: sorted(k) for v, k in keys.items()})


def open_spill_dir() -> AbstractContextManager[str]:
    """Scratch space for the reduction's spills (AccountIDs, per-loan contributions),
    removed at the end, or by a later reduction where this process is killed first."""
    return owned_temp_dir("montemap-reduce-")
