"""Every batch's rows of one scenario in key order, streamed: a merge of sorted runs.

Each batch's rows are sorted by key, and the canonical order of the run's outputs is
by key (keys are unique: :mod:`~montemap.credit.reduce_overlap` refuses a key seen twice). Batches are
opened in the order of their smallest key (:meth:`BatchTable.key_order`); before a batch is
opened, every row of the batches already open whose key is below its smallest key is
final and goes out. So only the batches whose key ranges overlap at one point are held
at a time, however many batches a range spans: a batch that straddles two far-apart
key ranges (the last objects of one inventory file and the first of the next) holds
its own rows and no one else's. Each batch is read once per scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from montemap.credit.batch_blocks import ScenarioBlocks
from montemap.credit.params import RunParams
from montemap.credit.reduce_scan import (
    BatchInfo,
    BatchTable,
    ReduceError,
    batch_rows,
    rows_of,
)
from montemap.storage import ObjectStore, ObjectStoreError

#: What a repeated loan key is refused with.
OVERLAP_MESSAGE = "batches overlap: some loan appears in more than one batch"
#: Loan rows handed on at a time (and rows per row group of ``loans.parquet``).
CHUNK_ROWS = 1 << 14


class _Run:
    """The rows of one open batch not yet handed out (sorted by key)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.keys = table.column("key")
        self.start = 0
        self.last = str(self.keys[-1].as_py())

    def first(self) -> str:
        return str(self.keys[self.start].as_py())

    def take_below(self, bound: str | None) -> pa.Table | None:
        """The rows with keys below ``bound`` (all of them when ``None``)."""
        rest = self.table.num_rows - self.start
        if bound is None or self.last < bound:
            count = rest
        elif self.first() >= bound:
            return None
        else:
            tail = self.keys.slice(self.start)
            count = int(pc.sum(pc.less(tail, pa.scalar(bound, tail.type))).as_py() or 0)
        piece = self.table.slice(self.start, count)
        self.start += count
        return piece

    def done(self) -> bool:
        return bool(self.start >= self.table.num_rows)


def sorted_by_key(rows: pa.Table) -> pa.Table:
    """``rows.sort_by("key")`` (a stable sort), without the copy when already in order."""
    keys = rows.column("key")
    if rows.num_rows < 2 or not _descents(keys, strict=True):
        return rows
    return rows.sort_by([("key", "ascending")])


def _descents(keys: pa.ChunkedArray, *, strict: bool) -> bool:
    """Whether some key is below (``strict``) or not above the one before it."""
    compare = pc.less if strict else pc.less_equal
    return bool(pc.any(compare(keys[1:], keys[:-1])).as_py())


def merged(
    batches: Sequence[BatchInfo], read: Callable[[BatchInfo], pa.Table]
) -> Iterator[pa.Table]:
    """Pieces whose concatenation is the rows of ``batches`` (``read`` gives a batch's
    rows, sorted by key) in key order."""
    return merged_in_order(sorted(batches, key=lambda b: (b.low or "", b.position)), read)


def merged_in_order(
    batches: Iterable[BatchInfo], read: Callable[[BatchInfo], pa.Table]
) -> Iterator[pa.Table]:
    """:func:`merged` of ``batches`` given in the order of their smallest key (then of
    their position), taken one at a time."""
    runs: list[_Run] = []
    for info in batches:
        yield from _below(runs, info.low or "")
        table = read(info)
        if table.num_rows:
            runs.append(_Run(table))
    yield from _below(runs, None)


def _below(runs: list[_Run], bound: str | None) -> Iterator[pa.Table]:
    pieces = [p for p in (run.take_below(bound) for run in runs) if p is not None and p.num_rows]
    runs[:] = [run for run in runs if not run.done()]
    if len(pieces) == 1:
        yield pieces[0]
    elif pieces:
        yield sorted_by_key(pa.concat_tables(pieces))


def chunked(pieces: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The pieces joined into tables of about ``rows`` rows (one chunk each)."""
    pending: list[pa.Table] = []
    held = 0
    for piece in pieces:
        pending.append(piece)
        held += piece.num_rows
        if held >= rows:
            yield pa.concat_tables(pending).combine_chunks()
            pending, held = [], 0
    if pending:
        yield pa.concat_tables(pending).combine_chunks()


def check_increasing(pieces: Iterator[pa.Table]) -> None:
    """Refuse a key that appears twice: merged keys must strictly increase."""
    last: str | None = None
    for piece in pieces:
        keys = piece.column("key")
        if piece.num_rows > 1 and _descents(keys, strict=False):
            raise ReduceError(OVERLAP_MESSAGE)
        first = str(keys[0].as_py())
        if last is not None and first <= last:
            raise ReduceError(OVERLAP_MESSAGE)
        last = str(keys[-1].as_py())


def scenario_chunks(
    store: ObjectStore,
    params: RunParams,
    batches: BatchTable,
    j: int,
    blocks: ScenarioBlocks | None = None,
) -> Iterator[pa.Table]:
    """Scenario ``j``'s rows of every batch sorted by key, in chunks of about
    ``CHUNK_ROWS`` rows (read through ``blocks``, which learns where each batch keeps
    its scenarios, when given: the same ``blocks`` for every scenario of a run)."""

    def read(info: BatchInfo) -> pa.Table:
        if blocks is not None:
            table = _block_rows(store, params, blocks, info, j)
        else:
            table = rows_of(batch_rows(store, params, info.batch_id), info.batch_id, j)
        if table.num_rows != info.rows[j]:
            raise ReduceError(
                f"batch {info.batch_id}: scenario {params.shocks_bp[j]} bp has "
                f"{table.num_rows} rows, expected {info.rows[j]}"
            )
        return table

    with_rows = (info for info in batches.infos(batches.key_order()) if info.rows[j])
    return chunked(merged_in_order(with_rows, read), CHUNK_ROWS)


def _block_rows(
    store: ObjectStore, params: RunParams, blocks: ScenarioBlocks, info: BatchInfo, j: int
) -> pa.Table:
    """Scenario ``j``'s rows of one batch through ``blocks``, errors as the reduction's."""
    folder = params.batch_key(info.batch_id, "")
    try:
        return blocks.scenario(store, params.output_bucket, folder, info.position, j)
    except ObjectStoreError as exc:
        raise ReduceError(f"batch {info.batch_id}: {exc}")
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ReduceError(f"batch {info.batch_id}: unreadable output: {exc}")
