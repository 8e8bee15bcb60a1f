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
* what the paths cannot say is ``None`` (``null`` in ``summary.json``), never a
  zero-width interval: every SE and interval with fewer than 2 paths, and the
  upper bound (with the SE) of a VaR/ES that rests on the run's largest path loss
  alone (that path carries more than the tail's weight ``S (1 - a)``: nothing was
  observed beyond it, so no resample can exceed it); a difference takes the
  unknown bound of either scenario (upper from the scenario, lower from the base),
  and where every replicate gives the same difference although the two scenarios'
  losses differ on some path (no loan changed on the tail paths: the change is not
  resolved), the bound on the side the losses move to.
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
    var_se: float | None
    es_se: float | None
    var_ci: tuple[float | None, float | None]
    es_ci: tuple[float | None, float | None]
    #: The bootstrap replicates' SD of VaR even where ``var_se`` is not reported: the
    #: kernel bandwidth of the VaR contributions (as before ``var_se`` could be None).
    bandwidth: float = 0.0


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


def at_largest_loss(weights_sorted: NDArray[np.float64], alpha: float, total: float) -> bool:
    """Whether :func:`var_es` picks the largest path loss: its path alone carries more
    than the tail's weight ``total (1 - alpha)``, so the data bound the VaR (and the ES,
    then equal) from below only."""
    return weights_sorted.shape[0] == 0 or float(weights_sorted[0]) > total * (1.0 - alpha)


def base_index(shocks: Sequence[int]) -> int:
    """The scenario differences are taken from: the 0 bp scenario (today's rates, the
    contract's baseline) wherever it is in the list given, else the lowest shock (the
    report's base, whatever the order given)."""
    given = list(shocks)
    if 0 in given:
        return given.index(0)
    return min(range(len(given)), key=given.__getitem__) if given else 0


def difference_table(
    losses: NDArray[np.float64],
    weights: NDArray[np.float64],
    alphas: Sequence[float],
    *,
    seed: int,
    replicates: int = BOOTSTRAP,
    base: int = 0,
) -> tuple[list[dict[float, Tail]], list[dict[float, Tail]]]:
    """``(tails, differences)``: differences of scenario ``k`` minus scenario ``base``
    (VaR and ES deltas with bootstrap SEs and intervals on the same resampled paths)."""
    pairs = _tails_and_diffs(losses, weights, alphas, seed, replicates, base)
    return [t for t, _ in pairs], [d for _, d in pairs]


def _tails_and_diffs(
    losses: NDArray[np.float64],
    weights: NDArray[np.float64],
    alphas: Sequence[float],
    seed: int,
    replicates: int,
    base: int = 0,
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
    open_top = [
        [at_largest_loss(weights[orders[j]], a, float(s)) for a in alphas] for j in range(k)
    ]
    moves = [_direction(losses[j] - losses[base]) for j in range(k)]
    boot = np.empty((replicates, k, len(alphas), 2))
    # uint64: a list of Python ints turns seeds from 2**63 on into floats (with a warning)
    rng = np.random.Generator(np.random.Philox(key=np.array([_BOOT_KEY, seed], dtype=np.uint64)))
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
            few = s < 2
            tails[a] = _summarise(
                point[j, ia],
                boot[:, j, ia],
                low_known=not few,
                high_known=not (few or open_top[j][ia]),
            )
            same = j == base  # the base minus itself: exactly 0 on every path
            reps = boot[:, j, ia] - boot[:, base, ia]
            low, high = _unresolved(reps, moves[j]) if not same else ((False,) * 2,) * 2
            diffs[a] = _summarise(
                point[j, ia] - point[base, ia],
                reps,
                low_known=same or not (few or open_top[base][ia]),
                high_known=same or not (few or open_top[j][ia]),
                unresolved=(low, high),
            )
        out.append((tails, diffs))
    return out


def _direction(change: NDArray[np.float64]) -> tuple[bool, bool]:
    """Whether a scenario's path losses rise above, and fall below, the base's on
    some path."""
    return bool((change > 0).any()), bool((change < 0).any())


Flags = tuple[bool, bool]  # per figure: VaR, ES


def _unresolved(reps: NDArray[np.float64], moves: tuple[bool, bool]) -> tuple[Flags, Flags]:
    """Which bounds of a difference the paths cannot give, ``(low, high)`` per figure:
    where every replicate gives the same difference although the two scenarios' losses
    differ on some path, the tail paths saw no loan change and the difference is not
    resolved; a zero-width interval would claim it known. The side the losses move to
    is unknown; the other stays a bound (with common random numbers a rise in rates
    only adds losses, so the change cannot go the other way)."""
    up, down = moves
    flat = np.all(reps == reps[:1], axis=0) if reps.shape[0] > 1 else np.zeros(2, bool)
    var_flat, es_flat = bool(flat[0]), bool(flat[1])
    return (down and var_flat, down and es_flat), (up and var_flat, up and es_flat)


def _summarise(
    point: NDArray[np.float64],
    reps: NDArray[np.float64],
    *,
    low_known: bool,
    high_known: bool,
    unresolved: tuple[Flags, Flags] = ((False, False), (False, False)),
) -> Tail:
    """Point estimates with the bootstrap SE and the percentile 95% interval; a bound
    the paths cannot give is ``None``, and so is the SE then (``unresolved``: per
    figure, bounds unknown besides those of ``low_known``/``high_known``)."""
    lo = np.quantile(reps, 0.025, axis=0)
    hi = np.quantile(reps, 0.975, axis=0)
    sd = reps.std(axis=0, ddof=1) if reps.shape[0] > 1 else np.zeros(2)
    low = [low_known and not unresolved[0][f] for f in (0, 1)]
    high = [high_known and not unresolved[1][f] for f in (0, 1)]

    def ci(f: int) -> tuple[float | None, float | None]:
        return (
            min(float(lo[f]), float(point[f])) if low[f] else None,
            max(float(hi[f]), float(point[f])) if high[f] else None,
        )

    def se(f: int) -> float | None:
        return float(sd[f]) if low[f] and high[f] else None

    return Tail(
        var=float(point[0]),
        es=float(point[1]),
        var_se=se(0),
        es_se=se(1),
        var_ci=ci(0),
        es_ci=ci(1),
        bandwidth=float(sd[0]),
    )


def weighted_mean_se(
    values: NDArray[np.float64], weights: NDArray[np.float64]
) -> tuple[float, float | None]:
    """Unbiased IS mean ``sum w x / S`` and its standard error ``sd(w x) / sqrt(S)``
    (``None`` with fewer than 2 paths: one path says nothing about its spread)."""
    s = values.shape[0]
    terms = weights * values
    mean = float(terms.sum()) / s
    se = float(terms.std(ddof=1)) / math.sqrt(s) if s > 1 else None
    return mean, se


def weighted_sd(values: NDArray[np.float64], weights: NDArray[np.float64]) -> float | None:
    """Standard deviation of the loss under the weighted (IS) measure (``None`` with
    fewer than 2 paths, not 0)."""
    s = values.shape[0]
    if s < 2:
        return None
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
