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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

#: Leaves of the pairwise tree summed by one ``np.sum`` call (at least NumPy's block, 128).
LEAF = 1 << 16
_BLOCK = 8


def _split(n: int) -> int:
    half = n // 2
    return half - half % _BLOCK


def _leaves(n: int, leaf: int) -> list[int]:
    """Sizes of the tree's leaves of at most ``leaf`` values, left to right."""
    if n <= leaf:
        return [n]
    left = _split(n)
    return _leaves(left, leaf) + _leaves(n - left, leaf)


class PairwiseSum:
    """``float(values.sum())`` of ``n`` float64 values fed in order, in any chunks."""

    def __init__(self, n: int, leaf: int | None = None) -> None:
        leaf = LEAF if leaf is None else leaf
        if leaf < 128:
            raise ValueError("leaf must be at least NumPy's pairwise block of 128")
        self.n = n
        self._leaf = leaf
        self._sizes = _leaves(n, leaf)
        self._sums: list[float] = []
        self._pending: list[NDArray[np.float64]] = []
        self._pending_n = 0
        self._seen = 0

    def add(self, values: NDArray[Any]) -> None:
        """Feed the next values (converted to float64)."""
        chunk = np.asarray(values, dtype=np.float64)
        if chunk.shape[0] == 0:
            return
        self._seen += chunk.shape[0]
        if self._seen > self.n:
            raise ValueError(f"more than the {self.n} values announced")
        self._pending.append(chunk)
        self._pending_n += chunk.shape[0]
        self._drain()

    def _drain(self) -> None:
        i = len(self._sums)
        if i >= len(self._sizes) or self._pending_n < self._sizes[i]:
            return
        buf = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        start = 0
        while i < len(self._sizes) and buf.shape[0] - start >= self._sizes[i]:
            size = self._sizes[i]
            self._sums.append(float(np.sum(buf[start : start + size])))
            start += size
            i += 1
        rest = buf[start:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_n = int(rest.shape[0])

    def value(self) -> float:
        """The sum; every announced value must have been fed."""
        if self._seen != self.n:
            raise ValueError(f"{self._seen} values fed, {self.n} announced")
        if self.n == 0:
            return 0.0
        sums = iter(self._sums)

        def combine(n: int) -> float:
            if n <= self._leaf:
                return next(sums)
            left = _split(n)
            return combine(left) + combine(n - left)

        return combine(self.n)


class GroupSums:
    """Per-label counts and sums, added in row order (``np.bincount`` across chunks)."""

    def __init__(self, stats: Sequence[str]) -> None:
        self.names: dict[str, int] = {}
        self.count: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.sums: dict[str, NDArray[np.float64]] = {
            name: np.zeros(0, dtype=np.float64) for name in stats
        }

    def codes(self, labels: pa.Array | pa.ChunkedArray) -> NDArray[np.intp]:
        """Global codes of a chunk's labels (new labels get the next codes)."""
        encoded = pc.dictionary_encode(labels)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        local = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)
        mapping = np.array(
            [
                self.names.setdefault(str(v), len(self.names))
                for v in encoded.dictionary.to_pylist()
            ],
            dtype=np.intp,
        )
        return np.asarray(mapping[local] if mapping.shape[0] else local, dtype=np.intp)

    def add(self, codes: NDArray[np.intp], values: dict[str, NDArray[Any]]) -> None:
        """Add a chunk: ``codes`` from :meth:`codes`, one value array per stat."""
        m = len(self.names)
        counted = np.bincount(codes, minlength=m) + np.pad(self.count, (0, m - len(self.count)))
        self.count = np.asarray(counted, dtype=np.int64)
        seed = np.arange(m, dtype=np.intp)
        for name, running in self.sums.items():
            start = np.pad(running, (0, m - running.shape[0]))
            weights = np.concatenate([start, np.asarray(values[name], dtype=np.float64)])
            summed = np.bincount(np.concatenate([seed, codes]), weights=weights, minlength=m)
            self.sums[name] = np.asarray(summed, dtype=np.float64)


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
        best = np.argsort(-values, kind="stable")[: self.n]
        offered = [(-float(values[i]), first + int(i), True, int(i)) for i in best]
        merged = heapq.nsmallest(self.n, self._kept + offered, key=lambda e: (e[0], e[1]))
        self._kept = [
            (v, pos, False, payload(data) if new else data) for v, pos, new, data in merged
        ]

    def items(self) -> list[tuple[float, Any]]:
        """``(value, payload)`` of the kept entries, largest first."""
        return [(-v, data) for v, _, _, data in self._kept]
