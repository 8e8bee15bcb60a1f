"""The check that no loan key is in two batches, off the reduction's critical path.

A batch whose key range meets no other's is checked by its distinct count (the first
pass's: instant). Batches whose ranges overlap must have their keys merged
(:func:`~montemap.credit.reduce_merge.check_increasing`): in a 500,000-loan run whose
inventory lists the objects out of key order, ~1,000 batches form one such group, and
merging their keys took ~0.35 s of one core while the other idled (session 27). The
merge now runs in a forked helper (:mod:`montemap.credit.reduce_fork`) while this
process writes the lists and runs the scenario passes; :func:`overlap_checked` waits for
its verdict before the reduction's files are committed.

Nothing changes for the caller but the time: the same batches are refused with the same
message, and a repeated key is still the error raised when the reduction also fails
for another reason meanwhile (a repeated key explains the rest). A helper that fails,
hangs (``reduce_fork.PATIENCE``) or cannot be forked leaves the merge to this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from montemap.credit.params import RunParams
from montemap.credit.reduce_fork import Helping, Split, can_fork
from montemap.credit.reduce_merge import OVERLAP_MESSAGE, check_increasing, merged_in_order
from montemap.credit.reduce_scan import (
    BatchInfo,
    BatchTable,
    ReduceError,
    batch_rows,
    key_groups,
    rows_of,
)
from montemap.storage import LocalObjectStore, ObjectStore

__all__ = ["check_overlap", "overlap_checked", "overlapping_groups"]

#: The helper's verdict when every group merged without a repeated key.
_SOUND = ""


def overlapping_groups(batches: BatchTable) -> list[NDArray[np.intp]]:
    """The groups of batches whose key ranges overlap (those with rows), in key order,
    once every batch alone has been checked by its distinct count (``ReduceError``)."""
    groups = []
    for group in key_groups(batches):
        if group.shape[0] == 1:
            if batches.distinct[group[0]] != batches.rows[group[0], 0]:
                raise ReduceError(OVERLAP_MESSAGE)
            continue
        groups.append(group[batches.rows[group, 0] > 0])
    return groups


def merge_groups(
    store: ObjectStore, params: RunParams, batches: BatchTable, groups: list[NDArray[np.intp]]
) -> None:
    """Refuse a key repeated within one of ``groups``: their keys merged in order."""

    def keys(info: BatchInfo) -> pa.Table:
        return rows_of(batch_rows(store, params, info.batch_id), info.batch_id, 0, ["key"])

    for group in groups:
        check_increasing(merged_in_order(batches.infos(group), keys))


def check_overlap(store: ObjectStore, params: RunParams, batches: BatchTable) -> None:
    """Refuse a loan key that appears twice (in one batch or in two), in this process."""
    merge_groups(store, params, batches, overlapping_groups(batches))


@contextmanager
def overlap_checked(
    store: ObjectStore, params: RunParams, batches: BatchTable, root: Path
) -> Iterator[None]:
    """Run the body while the overlap check runs beside it (in a helper forked in
    ``root``, where there are groups to merge and a fork can read ``store``); its
    ``ReduceError`` is raised at the end, or instead of the body's exception."""
    groups = overlapping_groups(batches)
    helping = _start(store, params, batches, groups, root) if groups else None
    if helping is None:
        merge_groups(store, params, batches, groups)
    try:
        try:
            yield
        except Exception:
            if helping is not None:
                _settle(helping, store, params, batches, groups)
            raise
        if helping is not None:
            _settle(helping, store, params, batches, groups)
    finally:
        if helping is not None:
            helping.close()  # kills the helper if it still runs; removes its folder


def _start(
    store: ObjectStore,
    params: RunParams,
    batches: BatchTable,
    groups: list[NDArray[np.intp]],
    root: Path,
) -> Helping | None:
    """The helper merging ``groups``, started; ``None`` where none can be forked (a
    store other than a local one: an S3 client's connections are not to be shared)."""
    if not isinstance(store, LocalObjectStore) or not can_fork():
        return None

    def work(split: Split, folder: Path) -> str:
        if split.take_back() is None:
            return _SOUND  # cannot happen: nobody else takes the one position
        try:
            merge_groups(store, params, batches, groups)
        except ReduceError as exc:
            return str(exc) or OVERLAP_MESSAGE
        return _SOUND

    return Helping.start(root, 1, work)


def _settle(
    helping: Helping,
    store: ObjectStore,
    params: RunParams,
    batches: BatchTable,
    groups: list[NDArray[np.intp]],
) -> None:
    """The helper's verdict (``ReduceError`` for a repeated key); where it has none (it
    failed, or was killed as hung), the merge is done here."""
    verdict = helping.helper.result()
    if verdict is None:
        merge_groups(store, params, batches, groups)
    elif verdict != _SOUND:
        raise ReduceError(str(verdict))
