"""Weighted tail estimators, bootstrap intervals and scenario differences.

Every estimator takes the run's path losses and the likelihood-ratio weights
of :mod:`montemap.credit.sampling` (all 1 for the plain estimator):

* ``VaR_a`` is the smallest path loss ``x`` whose weighted tail mass
  ``sum_p w_p [L_p > x] / S`` is at most ``1 - a`` (for weights 1: the
  ``ceil(a S)``-th smallest loss);
* ``ES_a = VaR_a + sum_p w_p (L_p - VaR_a)^+ / (S (1 - a))`` (Rockafellar and
  Uryasev), the minimum over ``x`` of ``x + E_w[(L - x)^+] / (1 - a)``: with
  common random numbers every path loss rises with the shock, so both figures
  can only rise too;
* 95% intervals: percentile bootstrap over paths (Poisson(1) resampling
  counts, ``BOOTSTRAP`` replicates, seeded by the run's seed) with the same
  resampled paths in every scenario, so differences between scenarios get
  their own intervals; ``se`` is the replicates' standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BOOTSTRAP = 400
_CHUNK_ELEMENTS = 1 << 22
_BOOT_KEY = 0xB007


@dataclass(frozen=True)
class Tail:
    """VaR and ES of one scenario at one level, with bootstrap intervals and SEs."""

    var: float
    es: float
    var_se: float
    es_se: float
    var_ci: tuple[float, float]
    es_ci: tuple[float, float]


def var_es(
    losses: NDArray[np.float64], weights: NDArray[np.float64], alpha: float, total: float
) -> tuple[float, float]:
    """VaR and ES from path losses sorted in *descending* order and their weights.

    ``total`` is the number of paths the weights are normalised by (``S``).
    """
    budget = total * (1.0 - alpha)
    cum = np.cumsum(weights)
    i = int(np.searchsorted(cum, budget, side="right"))
    i = min(i, losses.shape[0] - 1)
    var = float(losses[i])
    excess = float(np.dot(weights[:i], losses[:i] - var)) if i else 0.0
    return var, var + excess / budget


def difference_table(
    losses: NDArray[np.float64],
    weights: NDArray[np.float64],
    alphas: Sequence[float],
    *,
    seed: int,
    replicates: int = BOOTSTRAP,
) -> tuple[list[dict[float, Tail]], list[dict[float, Tail]]]:
    """``(tails, differences)``: differences of scenario ``k`` minus scenario 0
    (VaR and ES deltas with bootstrap SEs and intervals on the same resampled paths)."""
    pairs = _tails_and_diffs(losses, weights, alphas, seed, replicates)
    return [t for t, _ in pairs], [d for _, d in pairs]


def _tails_and_diffs(
    losses: NDArray[np.float64],
    weights: NDArray[np.float64],
    alphas: Sequence[float],
    seed: int,
    replicates: int,
) -> list[tuple[dict[float, Tail], dict[float, Tail]]]:
    k, s = losses.shape
    orders = [np.argsort(-losses[j], kind="stable") for j in range(k)]
    sorted_losses = [losses[j][orders[j]] for j in range(k)]
    point = np.array(
        [
            [var_es(sorted_losses[j], weights[orders[j]], a, float(s)) for a in alphas]
            for j in range(k)
        ]
    )  # (K, A, 2)
    boot = np.empty((replicates, k, len(alphas), 2))
    rng = np.random.Generator(np.random.Philox(key=[_BOOT_KEY, seed]))
    chunk = max(1, _CHUNK_ELEMENTS // max(s, 1))
    for start in range(0, replicates, chunk):
        counts = rng.poisson(1.0, size=(min(chunk, replicates - start), s)).astype(np.float64)
        for r in range(counts.shape[0]):
            cw = counts[r] * weights
            n = float(counts[r].sum()) or 1.0
            for j in range(k):
                w_sorted = cw[orders[j]]
                for ia, a in enumerate(alphas):
                    boot[start + r, j, ia] = var_es(sorted_losses[j], w_sorted, a, n)
    out = []
    for j in range(k):
        tails, diffs = {}, {}
        for ia, a in enumerate(alphas):
            tails[a] = _summarise(point[j, ia], boot[:, j, ia])
            diffs[a] = _summarise(point[j, ia] - point[0, ia], boot[:, j, ia] - boot[:, 0, ia])
        out.append((tails, diffs))
    return out


def _summarise(point: NDArray[np.float64], reps: NDArray[np.float64]) -> Tail:
    """Point estimates with the bootstrap SE and the percentile 95% interval."""
    lo = np.quantile(reps, 0.025, axis=0)
    hi = np.quantile(reps, 0.975, axis=0)
    sd = reps.std(axis=0, ddof=1) if reps.shape[0] > 1 else np.zeros(2)
    return Tail(
        var=float(point[0]),
        es=float(point[1]),
        var_se=float(sd[0]),
        es_se=float(sd[1]),
        var_ci=(min(float(lo[0]), float(point[0])), max(float(hi[0]), float(point[0]))),
        es_ci=(min(float(lo[1]), float(point[1])), max(float(hi[1]), float(point[1]))),
    )


def weighted_mean_se(
    values: NDArray[np.float64], weights: NDArray[np.float64]
) -> tuple[float, float]:
    """Unbiased IS mean ``sum w x / S`` and its standard error ``sd(w x) / sqrt(S)``."""
    s = values.shape[0]
    terms = weights * values
    mean = float(terms.sum()) / s
    se = float(terms.std(ddof=1)) / math.sqrt(s) if s > 1 else 0.0
    return mean, se


def weighted_sd(values: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """Standard deviation of the loss under the weighted (IS) measure."""
    s = values.shape[0]
    mean = float((weights * values).sum()) / s
    second = float((weights * values * values).sum()) / s
    return math.sqrt(max(second - mean * mean, 0.0) * s / max(s - 1, 1))


def weighted_quantile(
    values: NDArray[np.float64], weights: NDArray[np.float64], alpha: float
) -> float:
    """The weighted alpha-quantile (tail-mass definition of :func:`var_es`)."""
    order = np.argsort(-values, kind="stable")
    return var_es(values[order].astype(np.float64), weights[order], alpha, float(values.shape[0]))[
        0
    ]
