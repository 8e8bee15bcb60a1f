"""Sums over a stream of values that are bit-identical to NumPy's sums over the whole array.

The reduction reads the loans a bounded chunk at a time, yet its figures must be the
same bits as ``array.sum()`` over all loans in canonical order. NumPy sums a
contiguous float64 array pairwise: blocks of at most 128 values are summed with eight
running accumulators, longer ranges are split at ``n2 = n/2 - (n/2) mod 8`` and the
two halves' sums added. The split points depend only on the length ``n``, so when
``n`` is known in advance (the reduction's first pass counts the loans) the tree can
be cut into contiguous leaves of at most ``LEAF`` values, each summed by NumPy itself
(the same algorithm on a shorter array), and the leaves' sums combined up the same
tree: :class:`PairwiseSum`. ``np.bincount`` with weights adds sequentially per group,
which :class:`GroupSums` continues across chunks by seeding each call with the running
totals. :class:`TopN` keeps the ``argsort(-values, kind="stable")[:n]`` entries.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

#: Leaves of the pairwise tree summed by one ``np.sum`` call (at least NumPy's block, 128).
#: A sum holds at most one leaf of pending values (64 KiB), whatever ``n``.
LEAF = 1 << 13
_BLOCK = 8
#: ``np.sum`` of a float64 vector without its Python wrapper (the same reduction).
_add = np.add.reduce


def _split(n: int) -> int:
    half = n // 2
    return half - half % _BLOCK


def _program(n: int, leaf: int) -> Iterator[int]:
    """The tree of an ``n``-value sum in postfix order: a leaf's size (> 0), or ``0`` for
    "add the last two sums". Lazy, so it holds one path of the tree (its depth), not
    one entry per leaf."""
    if n <= leaf:
        yield n
        return
    left = _split(n)
    yield from _program(left, leaf)
    yield from _program(n - left, leaf)
    yield 0


class PairwiseSum:
    """``float(values.sum())`` of ``n`` float64 values fed in order, in any chunks.

    Memory is one leaf of pending values and one partial sum per level of the tree:
    leaves are summed as soon as they fill and combined as soon as both halves are known.
    """

    def __init__(self, n: int, leaf: int | None = None) -> None:
        leaf = LEAF if leaf is None else leaf
        if leaf < 128:
            raise ValueError("leaf must be at least NumPy's pairwise block of 128")
        self.n = n
        self._ops = _program(n, leaf) if n > 0 else iter(())
        self._stack: list[float] = []
        self._size = next(self._ops, 0)  # the leaf being filled (0: none left)
        self._buf: NDArray[np.float64] = np.empty(0, dtype=np.float64)
        self._fill = 0
        self._seen = 0

    def add(self, values: NDArray[Any]) -> None:
        """Feed the next values (converted to float64)."""
        chunk = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if chunk.shape[0] == 0:
            return
        if self._seen + chunk.shape[0] > self.n:
            raise ValueError(f"more than the {self.n} values announced")
        self._seen += chunk.shape[0]
        start = 0
        while start < chunk.shape[0]:
            take = min(self._size - self._fill, chunk.shape[0] - start)
            if self._fill == 0 and take == self._size:  # a whole leaf: sum it in place
                self._leaf_done(float(_add(chunk[start : start + take])))
            else:
                if self._buf.shape[0] < self._size:
                    self._buf = np.empty(self._size, dtype=np.float64)
                self._buf[self._fill : self._fill + take] = chunk[start : start + take]
                self._fill += take
                if self._fill == self._size:
                    self._fill = 0
                    self._leaf_done(float(_add(self._buf[: self._size])))
            start += take

    def _leaf_done(self, total: float) -> None:
        self._stack.append(total)
        for op in self._ops:
            if op:
                self._size = op
                return
            right = self._stack.pop()
            self._stack.append(self._stack.pop() + right)
        self._size = 0
        self._buf = np.empty(0, dtype=np.float64)

    def value(self) -> float:
        """The sum; every announced value must have been fed."""
        if self._seen != self.n:
            raise ValueError(f"{self._seen} values fed, {self.n} announced")
        if self.n == 0:
            return 0.0
        return self._stack[0]


class GroupSums:
    """Per-label counts and sums, added in row order (``np.bincount`` across chunks)."""

    def __init__(self, stats: Sequence[str]) -> None:
        self.names: dict[str, int] = {}
        self.count: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.sums: dict[str, NDArray[np.float64]] = {
            name: np.zeros(0, dtype=np.float64) for name in stats
        }
        #: ``names`` as an Arrow array, for looking up a chunk's labels in one call.
        self._known = pa.array([], type=pa.string())

    def codes(self, labels: pa.Array | pa.ChunkedArray) -> NDArray[np.intp]:
        """Global codes of a chunk's labels (new labels get the next codes, in the order
        of the chunk's dictionary): known string labels are looked up in one Arrow call,
        only new ones (or labels that are not plain strings) one by one. A chunk whose
        labels are all known (most are) is looked up row by row in that one call."""
        if len(self._known) and labels.type == pa.string() and not labels.null_count:
            found = pc.index_in(labels, value_set=self._known)
            if not found.null_count:
                return np.asarray(_int_values(found), dtype=np.intp)
        encoded = pc.dictionary_encode(labels)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        local = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)
        values = encoded.dictionary
        if values.type != pa.string() or values.null_count:
            mapping = np.array(
                [self.names.setdefault(str(v), len(self.names)) for v in values.to_pylist()],
                dtype=np.intp,
            )
        else:
            found = pc.index_in(values, value_set=self._known).to_numpy(zero_copy_only=False)
            mapping = np.asarray(np.nan_to_num(found, nan=-1), dtype=np.intp)
            missing = np.flatnonzero(mapping < 0)
            if missing.shape[0]:
                for i in missing.tolist():
                    mapping[i] = self.names.setdefault(str(values[i].as_py()), len(self.names))
                self._known = pa.array(list(self.names), type=pa.string())
        return np.asarray(mapping[local] if mapping.shape[0] else local, dtype=np.intp)

    def add(self, codes: NDArray[np.intp], values: dict[str, NDArray[Any]]) -> None:
        """Add a chunk: ``codes`` from :meth:`codes`, one value array per stat (each sum
        one ``np.bincount`` seeded with the running totals, so chunks add in row order)."""
        m = len(self.names)
        counted = np.array(np.bincount(codes, minlength=m), dtype=np.int64)
        counted[: self.count.shape[0]] += self.count
        self.count = counted
        if not self.sums:
            return
        index = np.concatenate([np.arange(m, dtype=np.intp), codes])
        for name, running in self.sums.items():
            weights = np.zeros(m + codes.shape[0], dtype=np.float64)
            weights[: running.shape[0]] = running
            weights[m:] = values[name]
            summed = np.bincount(index, weights=weights, minlength=m)
            self.sums[name] = np.asarray(summed, dtype=np.float64)


def _int_values(found: pa.Array | pa.ChunkedArray) -> NDArray[Any]:
    """An integer array without nulls as NumPy values (zero-copy where one piece)."""
    if isinstance(found, pa.ChunkedArray):
        if found.num_chunks == 1:
            return np.asarray(found.chunk(0).to_numpy())
        return np.asarray(found.to_numpy())
    return np.asarray(found.to_numpy())


class TopN:
    """The ``n`` largest values, ties by position: ``argsort(-values, stable)[:n]``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._kept: list[tuple[float, int, bool, Any]] = []

    def add(self, values: NDArray[np.float64], first: int, payload: Any) -> None:
        """Offer a chunk whose first value sits at position ``first``;
        ``payload(i)`` gives what to keep for the chunk's row ``i``."""
        if values.shape[0] == 0 or self.n == 0:
            return
        best = _largest(values, self.n)
        offered = [(-float(values[i]), first + int(i), True, int(i)) for i in best]
        merged = heapq.nsmallest(self.n, self._kept + offered, key=lambda e: (e[0], e[1]))
        self._kept = [
            (v, pos, False, payload(data) if new else data) for v, pos, new, data in merged
        ]

    def items(self) -> list[tuple[float, Any]]:
        """``(value, payload)`` of the kept entries, largest first."""
        return [(-v, data) for v, _, _, data in self._kept]


def _largest(values: NDArray[np.float64], n: int) -> NDArray[np.intp]:
    """``argsort(-values, kind="stable")[:n]`` without sorting every value: only those
    at or above the ``n``-th largest (ties included, in position order) are sorted."""
    size = values.shape[0]
    if size <= n or np.isnan(values).any():
        return np.argsort(-values, kind="stable")[:n]
    kth = np.partition(values, size - n)[size - n]
    candidates = np.flatnonzero(values >= kth)
    return candidates[np.argsort(-values[candidates], kind="stable")][:n]
