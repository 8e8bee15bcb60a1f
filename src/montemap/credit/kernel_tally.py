"""The kernel's sums over the candidate loan-paths, scenario by scenario.

A block's candidates (:mod:`montemap.credit.kernel_envelope`: every loan-path that
defaults in some scenario, and a few that default in none) are compared with each
scenario's own threshold, ``fl(a - fl(b * Z))`` in float32 as a dense compare would, and
the answers of a group of scenarios (:func:`scenario_groups` sizes it) are packed into a
byte per candidate: the group's scenario ``q`` is bit ``g - 1 - q``. The paths' weight
units and counts are added per (loan, byte) and the loss cents and counts per (path,
byte) with :func:`numpy.add.at`; at the end each byte's sums go to every scenario whose
bit it holds (a 0/1 matrix product).

Every sum is of non-negative integers whose total stays below ``2**53`` (the weight
units are made so, and the cents are summed in float64 only when all the loans' cents
together stay below it, otherwise in int64), so the sums are exact in any order and
equal, bit for bit, the dense products over every loan-path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from montemap.credit.kernel_scratch import Workspace

#: Most scenarios sharing one byte per candidate.
MAX_GROUP = 8
#: Most (path, byte) or (loan, byte) bins of a group's sums (bounds their memory for many
#: paths or loans: a group then holds fewer scenarios).
MAX_BINS = 1 << 20
#: Kept candidates that make a flush (fewer numpy calls per candidate than a flush per
#: block; the buffers stay a few MB).
FLUSH_CANDIDATES = 1 << 15

#: ``np.take``'s mode for indices known to be in range: with the default ("raise") and an
#: ``out``, NumPy first copies the whole of ``out`` (to leave it untouched on an error).
_IN_RANGE: Literal["clip"] = "clip"

Coefficients = Sequence[tuple[NDArray[np.float32], NDArray[np.float32]]]


def scenario_groups(scenarios: int, width: int, loans: int) -> list[list[int]]:
    """Consecutive groups of scenario indices sharing a byte per candidate: at most
    :data:`MAX_GROUP`, and at most :data:`MAX_BINS` (path, byte) or (loan, byte) bins
    (unless a group of one has more)."""
    size = 1
    while size < MAX_GROUP and (2 << size) * max(width, loans) <= MAX_BINS:
        size += 1
    return [list(range(s, min(s + size, scenarios))) for s in range(0, scenarios, size)]


class Bins:
    """One scenario group's sums per (loan, byte) and per (column, byte)."""

    def __init__(self, group: list[int], n: int, width: int, exact: bool) -> None:
        self.group = group
        bins = 1 << len(group)
        # counts as float64 (exact below 2**53): the products below then run in BLAS
        self.loan_defaults = np.zeros((n, bins), dtype=np.float64)
        self.loan_weighted = np.zeros((2, n, bins), dtype=np.float64)
        self.path_loss = np.zeros((width, bins), dtype=np.float64 if exact else np.int64)
        self.path_defaults = np.zeros((width, bins), dtype=np.float64)

    def per_scenario(self) -> ScenarioSums:
        """Each sum per scenario of the group (last axis), from the bytes' sums."""
        g = len(self.group)
        bits = np.arange(g - 1, -1, -1)[None, :]  # scenario q is bit g - 1 - q
        select = (np.arange(1 << g)[:, None] >> bits) & 1  # (bytes, group) 0/1
        select_f = select.astype(np.float64)
        if self.path_loss.dtype == np.float64:
            path_loss = (self.path_loss @ select_f).astype(np.int64)  # exact integers
        else:
            path_loss = np.asarray(self.path_loss @ select, dtype=np.int64)
        return ScenarioSums(
            (self.loan_defaults @ select_f).astype(np.int64),
            self.loan_weighted @ select_f,
            path_loss,
            (self.path_defaults @ select_f).astype(np.int64),
        )


class ScenarioSums(NamedTuple):
    """A group's sums, scenario by scenario on the last axis (paths by column)."""

    loan_defaults: NDArray[np.int64]  # (loans, group)
    loan_weighted: NDArray[np.float64]  # (2, loans, group): weight and squared-weight units
    path_loss: NDArray[np.int64]  # (width, group)
    path_defaults: NDArray[np.int64]  # (width, group)


class CandidateTally:
    """Every scenario's per-loan and per-column sums, from the candidates of successive
    blocks of loans (``add``), compared and summed :data:`FLUSH_CANDIDATES` or more at a
    time and at the end (``flush``)."""

    def __init__(
        self,
        coeffs: Coefficients,
        factors: Sequence[NDArray[np.float32]],
        units: NDArray[np.float64],
        cents: NDArray[np.int64],
        exact: bool,
        work: Workspace,
    ) -> None:
        """``factors``: each scenario's factor by column; ``units``: (2, width) weight and
        squared-weight units by column (0 on padding); ``work``: the buffers to use."""
        n, width = cents.shape[0], units.shape[1]
        self.coeffs, self.factors, self.units = coeffs, factors, units
        self.shared_b = all(np.array_equal(b, coeffs[0][1]) for _, b in coeffs)
        self.weights = cents.astype(np.float64) if exact else cents
        self.half = width // 2
        self.bins = [Bins(g, n, width, exact) for g in scenario_groups(len(coeffs), width, n)]
        self.work = work
        self.kept = 0

    def add(self, flat: NDArray[np.intp], normals: NDArray[np.float32], start: int) -> None:
        """Keep the candidates of a block of loans from ``start`` (``flat``: their indices
        in the block's ``normals``, (2, loans, width/2))."""
        size, kept = flat.shape[0], self.kept
        end = kept + size
        buf = self.work.candidates
        if end > buf.size:
            buf = self.work.candidates = buf.grown(end, kept)
        m, half = normals.shape[1], self.half
        np.take(normals.reshape(-1), flat, out=buf.eps[kept:end], mode=_IN_RANGE)
        loan, col = buf.loan[kept:end], buf.col[kept:end]
        np.floor_divide(flat, half, out=loan)  # h * m + loan
        np.multiply(loan, half, out=col)
        np.subtract(flat, col, out=col)  # the column within the half
        odd = np.greater_equal(loan, m, out=buf.hit[:size])
        np.subtract(loan, m, out=loan, where=odd)
        np.add(col, half, out=col, where=odd)
        loan += start
        self.kept = end
        if end >= FLUSH_CANDIDATES:
            self.flush()

    def flush(self) -> None:
        """Compare the kept candidates with every scenario's thresholds and add them to
        the sums."""
        size, buf = self.kept, self.work.candidates
        self.kept = 0
        if size == 0:
            return
        loan, col, eps = buf.loan[:size], buf.col[:size], buf.eps[:size]
        units = [
            np.take(self.units[row], col, out=buf.units[row][:size], mode=_IN_RANGE)
            for row in range(2)
        ]
        own = buf.weights if self.weights.dtype == np.float64 else buf.cents
        weights = np.take(self.weights, loan, out=own[:size], mode=_IN_RANGE)
        bar, hit, byte, key = buf.bar[:size], buf.hit[:size], buf.byte[:size], buf.key[:size]
        a_c = buf.a[:size]
        b_c = (
            np.take(self.coeffs[0][1], loan, out=buf.b[:size], mode=_IN_RANGE)
            if self.shared_b
            else None
        )
        for bins in self.bins:
            byte.fill(0)
            for j in bins.group:
                a, b = self.coeffs[j]
                np.take(self.factors[j], col, out=bar, mode=_IN_RANGE)
                np.multiply(b_c if b_c is not None else b[loan], bar, out=bar)
                np.subtract(np.take(a, loan, out=a_c, mode=_IN_RANGE), bar, out=bar)
                np.less(eps, bar, out=hit)
                np.add(byte, byte, out=byte)  # the earlier scenarios' bits one place up
                np.add(byte, hit.view(np.uint8), out=byte)
            _add_to_bins(bins, byte, loan, col, units, weights, key)


def _add_to_bins(
    bins: Bins,
    byte: NDArray[np.uint8],
    loan: NDArray[np.intp],
    col: NDArray[np.intp],
    units: list[NDArray[np.float64]],
    weights: NDArray[np.float64] | NDArray[np.int64],
    key: NDArray[np.intp],
) -> None:
    """Add one group's candidates (``byte``: which of its scenarios default) to its bins."""
    shift = len(bins.group)
    np.left_shift(loan, shift, out=key)
    np.add(key, byte, out=key)
    np.add.at(bins.loan_defaults.reshape(-1), key, 1.0)
    for row in range(2):
        np.add.at(bins.loan_weighted[row].reshape(-1), key, units[row])
    np.left_shift(col, shift, out=key)
    np.add(key, byte, out=key)
    np.add.at(bins.path_defaults.reshape(-1), key, 1.0)
    np.add.at(bins.path_loss.reshape(-1), key, weights)
