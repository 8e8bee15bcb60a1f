"""The loan-paths that may default in some scenario: one compare against an envelope.

A loan defaults on a path in a scenario iff ``eps < fl(a - fl(b * Z))`` (float32, ``a``
and ``b`` the loan's coefficients in that scenario, ``Z`` the path's factor). Rounding is
monotone and ``b >= 0``, so with ``a+`` the loan's largest ``a`` over the scenarios,
``b-`` and ``b+`` its smallest and largest ``b``, and ``Z-`` the path's smallest factor,

    ``fl(a - fl(b * Z)) <= fl(a+ - min(fl(b- * Z-), fl(b+ * Z-)))``

in every scenario: a loan-path whose draw is not below that envelope defaults nowhere.
One multiply-subtract-compare per loan-path (two multiplies when ``b`` differs between
scenarios) thus finds the few candidates (about 9% of the loan-paths with the
importance-sampled paths and shocks up to 300 bp), and only those are compared with each
scenario's own threshold (:mod:`montemap.credit.kernel_tally`), with the same float32
operations, so every answer is the dense compare's. NaN coefficients never default; the
envelope ignores them (``fmax``/``fmin``).

Layout: a block's draws are ``(2, loans, width/2)``, the even paths' normals then the
odd paths', as :func:`montemap.credit.rng.box_muller` makes them; path ``2c + h`` is
column ``h * width/2 + c`` of the loan (:func:`path_columns`), by which the candidates
are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from montemap.credit.kernel_scratch import Block


def path_columns(width: int) -> NDArray[np.intp]:
    """The column of each path (``width`` of them, padding included)."""
    half = width // 2
    paths = np.arange(width)
    return np.asarray((paths % 2) * half + paths // 2)


class Envelope:
    """Per-loan bounds of the coefficients and per-path bounds of the factor over the
    scenarios."""

    def __init__(
        self,
        coeffs: Sequence[tuple[NDArray[np.float32], NDArray[np.float32]]],
        factors: Sequence[NDArray[np.float32]],
        paths: int,
    ) -> None:
        """``factors``: each scenario's factor by column; ``paths``: how many are real."""
        self.a_max = np.fmax.reduce([a for a, _ in coeffs])
        self.b_min = np.fmin.reduce([b for _, b in coeffs])
        self.b_max = np.fmax.reduce([b for _, b in coeffs])
        self.shared_b = bool(np.array_equal(self.b_min, self.b_max))
        z_min = np.fmin.reduce(list(factors))
        self.half = z_min.shape[0] // 2
        self.z_min = z_min.reshape(2, 1, self.half)  # even paths, then odd
        self.counts = ((paths + 1) // 2, paths // 2)

    def candidates(self, block: Block, start: int) -> NDArray[np.intp]:
        """The candidates among the loans ``start..`` of ``block`` (its ``normals``
        filled): their indices in ``block.normals``, in order."""
        m = block.a.shape[0]
        stop = start + m
        bar, hit = block.bar, block.hit
        # each loan's bounds spread along its row first: a column broadcast inside a
        # ufunc is slower
        np.copyto(block.b, self.b_max[start:stop, None])
        np.multiply(block.b, self.z_min, out=bar)
        if not self.shared_b:
            np.copyto(block.b, self.b_min[start:stop, None])
            np.multiply(block.b, self.z_min, out=block.low)
            np.fmin(bar, block.low, out=bar)
        np.copyto(block.a, self.a_max[start:stop, None])
        np.subtract(block.a, bar, out=bar)
        np.less(block.normals, bar, out=hit)
        for h, count in enumerate(self.counts):
            hit[h, :, count:] = False  # padding paths never default
        return np.flatnonzero(hit)
