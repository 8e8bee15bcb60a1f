"""Euler risk contributions of each loan and segment to ES and VaR.

The Euler contribution of loan ``i`` to ``ES_a`` is ``E[L_i | L >= VaR_a]``
and to ``VaR_a`` is ``E[L_i | L = VaR_a]`` (Tasche). The batches keep only the
portfolio's path losses, so a loan's loss on a path is replaced by its
conditional expectation given the path's factor, ``LGD_i EAD_i p_i(Z_p)``
(exact in the granular, ASRF, limit, where the tail event is a factor event):

* ES: the tail paths (weighted as in the ES estimator, the boundary path with
  the fraction of its weight that completes ``1 - a``);
* VaR: a Gaussian kernel in ``L_p - VaR_a`` (bandwidth: the VaR's bootstrap
  standard error, at least 1% of VaR), times the likelihood-ratio weights.

The contributions are then scaled by one factor so they sum exactly to the
portfolio figure (``scale``, reported: close to 1 for a granular book; its
distance from 1 measures the idiosyncratic share of the tail). Tail factors
are grouped into at most ``FACTOR_BINS`` bins of consecutive factor values,
each at its weighted mean factor, so the cost is loans x bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

FACTOR_BINS = 48


@dataclass(frozen=True)
class Allocation:
    """Per-loan contributions to one figure, and the factor that made them add up."""

    per_loan: NDArray[np.float64]
    scale: float


def es_path_weights(
    losses: NDArray[np.float64], weights: NDArray[np.float64], alpha: float, var: float
) -> NDArray[np.float64]:
    """Path weights of the ES tail: ``w`` above VaR, the remainder on paths at VaR."""
    s = losses.shape[0]
    budget = s * (1.0 - alpha)
    above = losses > var
    omega = np.where(above, weights, 0.0)
    rest = max(budget - float(omega.sum()), 0.0)
    at = losses == var
    at_mass = float(weights[at].sum())
    if at_mass > 0:
        omega = omega + np.where(at, weights * min(rest / at_mass, 1.0), 0.0)
    return np.asarray(omega, dtype=np.float64)


def var_path_weights(
    losses: NDArray[np.float64], weights: NDArray[np.float64], var: float, bandwidth: float
) -> NDArray[np.float64]:
    """Gaussian-kernel path weights around VaR."""
    h = max(bandwidth, 0.01 * abs(var), 1.0)
    return np.asarray(weights * np.exp(-0.5 * ((losses - var) / h) ** 2), dtype=np.float64)


def factor_bins(
    factor: NDArray[np.float64], omegas: list[NDArray[np.float64]]
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    """Group the paths any ``omega`` weighs into at most ``FACTOR_BINS`` bins of
    consecutive factor values: the bins' mean factors and each omega's mass per bin."""
    keep = np.flatnonzero(np.any(np.stack(omegas) > 0, axis=0))
    if keep.shape[0] == 0:
        return np.zeros(0), [np.zeros(0) for _ in omegas]
    keep = keep[np.argsort(factor[keep], kind="stable")]
    groups = np.array_split(keep, min(FACTOR_BINS, keep.shape[0]))
    centres = np.array([factor[g].mean() for g in groups])
    masses = [np.array([om[g].sum() for g in groups]) for om in omegas]
    return centres, masses


def allocate(
    loss_given_default: NDArray[np.float64],
    pd: NDArray[np.float64],
    rho: NDArray[np.float64],
    centres: NDArray[np.float64],
    masses: list[NDArray[np.float64]],
    totals: list[float],
) -> list[Allocation]:
    """Per figure: contributions ``LGD EAD E_omega[p_i(Z)]`` scaled to sum to its total."""
    n = loss_given_default.shape[0]
    if n == 0 or centres.shape[0] == 0:
        return [Allocation(np.zeros(n), 1.0) for _ in totals]
    mix = bin_mix(masses)
    raw = np.empty((n, len(totals)))
    step = slice_rows(centres)
    for start in range(0, n, step):
        sl = slice(start, start + step)
        raw[sl] = raw_contributions(pd[sl], rho[sl], centres, mix)
    raw *= loss_given_default[:, None]
    out = []
    for f, total in enumerate(totals):
        got = float(raw[:, f].sum())
        scale = total / got if got > 0 else 1.0
        out.append(Allocation(np.asarray(raw[:, f] * scale, dtype=np.float64), scale))
    return out


def bin_mix(masses: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """Each figure's bin masses normalised to 1: a (bins, figures) matrix."""
    return np.stack([m / m.sum() if m.sum() > 0 else m for m in masses], axis=1)


def slice_rows(centres: NDArray[np.float64]) -> int:
    """Loans per slice of :func:`raw_contributions` (about a million loan-bins). The
    streaming reduction cuts the same slices, so its results are the same bits."""
    return max(1, (1 << 20) // int(centres.shape[0]))


def raw_contributions(
    pd: NDArray[np.float64],
    rho: NDArray[np.float64],
    centres: NDArray[np.float64],
    mix: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``E_omega[p_i(Z)]`` of one slice of loans for every figure (before LGD x EAD).

    The conditional PDs are :func:`~montemap.credit.model.conditional_pd`'s, operation
    for operation (the same bits), computed in one loans x bins buffer."""
    pd = np.asarray(pd, dtype=np.float64)
    rho = np.asarray(rho, dtype=np.float64)
    probs = np.sqrt(rho)[:, None] * np.asarray(centres, dtype=np.float64)[None, :]
    np.subtract(special.ndtri(pd)[:, None], probs, out=probs)
    np.divide(probs, np.sqrt(1.0 - rho)[:, None], out=probs)
    special.ndtr(probs, out=probs)
    return np.asarray(probs @ mix, dtype=np.float64)


def score_band(score: NDArray[np.float64]) -> NDArray[np.object_]:
    """FICO-style bands of the credit score."""
    names = np.array(SCORE_BANDS, dtype=object)
    return np.asarray(names[score_band_index(score)], dtype=object)


def score_band_index(score: NDArray[Any]) -> NDArray[np.intp]:
    """Each score's band as an index into :data:`SCORE_BANDS`."""
    edges = np.array(SCORE_EDGES)
    return np.searchsorted(edges, np.asarray(score, dtype=np.float64), side="right")


def region(zip_codes: NDArray[np.object_]) -> NDArray[np.object_]:
    """The ZIP code's national area (its first digit, 0-9)."""
    return np.array([f"zip {str(z)[:1]}xxxx" for z in zip_codes.tolist()], dtype=object)


SCORE_BANDS = ("<580", "580-669", "670-739", "740-799", ">=800")
#: The lowest score of each band after the first.
SCORE_EDGES = (580.0, 670.0, 740.0, 800.0)
