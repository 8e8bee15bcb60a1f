"""The kernel's scratch arrays, kept per thread between calls.

Each block of loans computes in the same arrays (the first elements of each), and each
call of the kernel (one per batch in a worker) finds them again: no allocation, and no
first touch of fresh pages (a page fault each) per block or per call. A thread keeps the
largest workspace it needed (a few MB: blocks are 2**16 loan-paths).
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

_LOCAL = threading.local()


class CandidateBuffers:
    """Per-candidate arrays (``size`` candidates at most): the kept ones (loan, column,
    draw) and the scratch of their sums."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.loan = np.empty(size, dtype=np.intp)
        self.col = np.empty(size, dtype=np.intp)
        self.eps = np.empty(size, dtype=np.float32)
        self.key = np.empty(size, dtype=np.intp)
        self.units = (np.empty(size, dtype=np.float64), np.empty(size, dtype=np.float64))
        self.weights = np.empty(size, dtype=np.float64)
        self.cents = np.empty(size, dtype=np.int64)
        self.a = np.empty(size, dtype=np.float32)
        self.b = np.empty(size, dtype=np.float32)
        self.bar = np.empty(size, dtype=np.float32)
        self.hit = np.empty(size, dtype=np.bool_)
        self.byte = np.empty(size, dtype=np.uint8)

    def grown(self, size: int, kept: int) -> CandidateBuffers:
        """Buffers for ``size`` candidates holding the first ``kept`` of these."""
        bigger = CandidateBuffers(max(size, 2 * self.size))
        for name in ("loan", "col", "eps"):
            getattr(bigger, name)[:kept] = getattr(self, name)[:kept]
        return bigger


class Workspace:
    """A block's arrays, for up to ``rows`` loans by ``2 * half`` paths (columns)."""

    def __init__(self, rows: int, half: int) -> None:
        self.rows, self.half = rows, half
        size = rows * half
        self._raw = np.empty(size, dtype=np.uint64)
        self._bits = np.empty(size, dtype=np.uint32)
        self._normals = np.empty(2 * size, dtype=np.float32)
        self._a = np.empty(size, dtype=np.float32)
        self._b = np.empty(size, dtype=np.float32)
        self._bar = np.empty(2 * size, dtype=np.float32)
        self._low = np.empty(2 * size, dtype=np.float32)
        self._hit = np.empty(2 * size, dtype=np.bool_)
        self.candidates = CandidateBuffers(0)

    def block(self, m: int) -> Block:
        """Contiguous views for a block of ``m`` loans."""
        return Block(self, m)


class Block:
    """A block's views: ``raw`` and ``bits`` (m, half); ``normals``, ``bar``, ``low`` and
    ``hit`` (2, m, half): the even paths' normals, then the odd paths'; ``a`` and ``b``
    (m, half)."""

    def __init__(self, work: Workspace, m: int) -> None:
        half, size = work.half, m * work.half
        self.raw: NDArray[np.uint64] = work._raw[:size].reshape(m, half)
        self.bits: NDArray[np.uint32] = work._bits[:size].reshape(m, half)
        self.normals: NDArray[np.float32] = work._normals[: 2 * size].reshape(2, m, half)
        self.a: NDArray[np.float32] = work._a[:size].reshape(m, half)
        self.b: NDArray[np.float32] = work._b[:size].reshape(m, half)
        self.bar: NDArray[np.float32] = work._bar[: 2 * size].reshape(2, m, half)
        self.low: NDArray[np.float32] = work._low[: 2 * size].reshape(2, m, half)
        self.hit: NDArray[np.bool_] = work._hit[: 2 * size].reshape(2, m, half)


def workspace(rows: int, half: int) -> Workspace:
    """This thread's workspace for blocks of up to ``rows`` loans by ``2 * half`` paths."""
    kept: Workspace | None = getattr(_LOCAL, "workspace", None)
    if kept is None or kept.half != half or kept.rows < rows:
        kept = _LOCAL.workspace = Workspace(rows, half)
    return kept
