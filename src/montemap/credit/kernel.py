"""The Monte Carlo kernel: correlated defaults of a block of loans over S paths.

One-factor Gaussian copula: loan ``i`` defaults on path ``p`` iff
``sqrt(rho_i) Z_p + sqrt(1-rho_i) eps_ip < c_i``, with ``c_i = Phi^-1(PD_i)``,
``Z_p = mu + Z0_p`` shared by all loans and ``eps_ip`` the loan's own draw.
Written as ``eps_ip < a_i - b_i Z_p`` (``a = c/sqrt(1-rho)``,
``b = sqrt(rho/(1-rho))``), each loan-path costs one uniform, half a
Box-Muller transform (32 random bits), a multiply-subtract and a compare,
all in float32.

Backends are pluggable (:func:`register_backend`); every backend must honour
the stream layout of :mod:`montemap.credit.rng` so results do not depend on
batching. Losses are integer cents so sums are exact in any order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from montemap.credit.rng import StreamFactory, box_muller, padded_width
from montemap.credit.sampling import PathDesign

#: Largest float64 integer below which every partial sum is exact.
_EXACT = float(1 << 53)
#: Loan-path elements per block (keeps the working set in cache: 64 loans x 1,024 paths,
#: whose float64 hit matrix is 256 KB; 128 loans were 4-8% slower).
BLOCK_ELEMENTS = 1 << 16


@dataclass(frozen=True)
class KernelInputs:
    """What the kernel needs per loan; arrays aligned, one entry per loan."""

    account_ids: NDArray[np.int64]
    threshold: NDArray[np.float64]  # Phi^-1(PD) of the copula (the repriced PD)
    rho: NDArray[np.float64]
    loss_cents: NDArray[np.int64]  # LGD * EAD in whole cents

    def __post_init__(self) -> None:
        n = self.account_ids.shape[0]
        for name in ("threshold", "rho", "loss_cents"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"KernelInputs.{name} must have shape ({n},)")
        if n and (self.rho.min() < 0 or self.rho.max() >= 1):
            raise ValueError("KernelInputs.rho must lie in [0, 1)")
        if n and self.loss_cents.min() < 0:
            raise ValueError("KernelInputs.loss_cents must be non-negative")


@dataclass(frozen=True)
class KernelResult:
    """Per-loan default counts and per-path portfolio loss and default count."""

    loan_defaults: NDArray[np.int64]  # (loans,) paths on which the loan defaults
    loan_weighted: NDArray[np.float64]  # (loans,) sum of the paths' weight units (exact)
    path_loss_cents: NDArray[np.int64]  # (paths,)
    path_defaults: NDArray[np.int64]  # (paths,)
    #: (loans,) sum of the paths' squared weights in units of ``2**-sq_bits(paths)``
    #: (exact integers), for the weighted-variance standard error
    loan_weighted_sq: NDArray[np.float64] | None = None


class Backend(Protocol):
    """A kernel implementation."""

    name: str

    def simulate(
        self,
        scenarios: Sequence[KernelInputs],
        *,
        seed: int,
        mus: Sequence[float],
        design: PathDesign,
    ) -> list[KernelResult]:
        """Simulate every scenario (same loans, own thresholds and factor means ``mus``) on
        the paths of ``design``, with the same draws for every scenario."""
        ...


class NumpyBackend:
    """The reference backend: NumPy, float32, blocks of loans sized for the cache.

    Each block's idiosyncratic normals are drawn once and compared with every
    scenario's thresholds (common random numbers), so extra scenarios cost a
    multiply-subtract, a compare and the sums, not new draws.
    """

    name = "numpy"

    def simulate(
        self,
        scenarios: Sequence[KernelInputs],
        *,
        seed: int,
        mus: Sequence[float],
        design: PathDesign,
    ) -> list[KernelResult]:
        paths = design.paths
        _check_scenarios(scenarios, mus, paths)
        first = scenarios[0]
        streams = StreamFactory(seed)
        width = padded_width(paths)
        half = width // 2
        units_even, units_odd = _path_units(design, width)
        factors = [_factor_halves(design, mu, width) for mu in mus]
        n_even, n_odd = (paths + 1) // 2, paths // 2

        n = first.account_ids.shape[0]
        coeffs = [_coefficients(sc) for sc in scenarios]
        # b depends on rho only: spread once per block when every scenario has the same
        shared_b = all(np.array_equal(b, coeffs[0][1]) for _, b in coeffs)
        ids = first.account_ids.astype(np.uint64)
        weights = first.loss_cents.astype(np.float64)
        exact = float(weights.sum()) < _EXACT
        k = len(scenarios)
        loan_defaults = np.zeros((k, n), dtype=np.int64)
        loan_weighted = np.zeros((k, n, 2), dtype=np.float64)
        loss = np.zeros((k, 2, half), dtype=np.int64)
        dflt = np.zeros((k, 2, half), dtype=np.int64)
        rows = max(1, BLOCK_ELEMENTS // width)
        buf = _Scratch(min(rows, n), half)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            m = stop - start
            raw = buf.raw[:m]
            streams.idiosyncratic_raw(ids[start:stop], raw)
            halves = box_muller(raw, (buf.even[:m], buf.odd[:m], buf.bits[:m]))
            w = weights[start:stop]
            w_ones = np.stack([w, np.ones_like(w)])  # loss cents and a count per path
            bar, hit, hitf = buf.bar[:m], buf.hit[:m], buf.hitf[:m]
            a_wide, b_wide = buf.a_wide[:m], buf.b_wide[:m]
            for j, (a, b) in enumerate(coeffs):
                # each loan's coefficients spread along its row once for both halves: a
                # column broadcast inside the two ufuncs would be copied row by row
                np.copyto(a_wide, a[start:stop, None])
                if j == 0 or not shared_b:
                    np.copyto(b_wide, b[start:stop, None])
                for h, (count, u) in enumerate(((n_even, units_even), (n_odd, units_odd))):
                    if count == 0:
                        continue
                    np.multiply(b_wide, factors[j][h][None, :], out=bar)
                    np.subtract(a_wide, bar, out=bar)
                    np.less(halves[h], bar, out=hit)
                    hit[:, count:] = False
                    np.copyto(hitf, hit)
                    sums = u @ hitf.T  # integer units: exact (the wide side first: faster)
                    loan_weighted[j, start:stop] += sums[:2].T
                    loan_defaults[j, start:stop] += sums[2].astype(np.int64)
                    if exact:
                        per_path = w_ones @ hitf
                        loss[j, h] += np.rint(per_path[0]).astype(np.int64)
                        dflt[j, h] += per_path[1].astype(np.int64)
                    else:
                        dflt[j, h] += hit.sum(axis=0)
                        loss[j, h] += _exact_weighted_sum(w, hitf, exact)
        return [
            _result(loan_defaults[j], loan_weighted[j], loss[j], dflt[j], width, paths)
            for j in range(k)
        ]


class _Scratch:
    """The block loop's arrays, made once per call and reused by every block (which fills
    the first rows of each): no allocation or first touch per block, and each ufunc
    writes into memory that is already in cache."""

    def __init__(self, rows: int, half: int) -> None:
        shape = (rows, half)
        self.raw = np.empty(shape, dtype=np.uint64)
        self.even = np.empty(shape, dtype=np.float32)
        self.odd = np.empty(shape, dtype=np.float32)
        self.bits = np.empty(shape, dtype=np.uint32)
        self.bar = np.empty(shape, dtype=np.float32)
        self.a_wide = np.empty(shape, dtype=np.float32)
        self.b_wide = np.empty(shape, dtype=np.float32)
        self.hit = np.empty(shape, dtype=np.bool_)
        self.hitf = np.empty(shape, dtype=np.float64)


def _check_scenarios(scenarios: Sequence[KernelInputs], mus: Sequence[float], paths: int) -> None:
    """A :class:`ValueError` unless there are paths, and scenarios of the same loans with a
    factor mean each."""
    if paths < 1:
        raise ValueError(f"paths must be at least 1, got {paths}")
    if len(mus) != len(scenarios) or not scenarios:
        raise ValueError("simulate needs one factor mean per scenario, and a scenario")
    first = scenarios[0]
    for other in scenarios[1:]:
        if not (
            np.array_equal(other.account_ids, first.account_ids)
            and np.array_equal(other.loss_cents, first.loss_cents)
        ):
            raise ValueError("every scenario must hold the same loans")


def _path_units(design: PathDesign, width: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Three rows over the paths (even paths, then odd): weight units, squared-weight units
    and 1 (to count defaults), so one product per block gives all three per-loan sums
    (integers: exact in any order). Padding paths carry zeros in the first two rows."""
    units = np.ones((width, 3), dtype=np.float64)
    units[:, :2] = 0.0
    units[: design.paths, 0] = design.weight_units
    units[: design.paths, 1] = squared_weight_units(design)
    return np.ascontiguousarray(units[0::2].T), np.ascontiguousarray(units[1::2].T)


def _result(
    loan_defaults: NDArray[np.int64],
    loan_weighted: NDArray[np.float64],
    loss: NDArray[np.int64],
    dflt: NDArray[np.int64],
    width: int,
    paths: int,
) -> KernelResult:
    """One scenario's result from its even/odd path halves (``loss``, ``dflt``: (2, half))."""
    path_loss = np.empty(width, dtype=np.int64)
    path_loss[0::2], path_loss[1::2] = loss[0], loss[1]
    path_defaults = np.empty(width, dtype=np.int64)
    path_defaults[0::2], path_defaults[1::2] = dflt[0], dflt[1]
    return KernelResult(
        loan_defaults,
        loan_weighted[:, 0].copy(),
        path_loss[:paths],
        path_defaults[:paths],
        loan_weighted[:, 1].copy(),
    )


def sq_bits(paths: int) -> int:
    """``k`` with ``paths * 4 * 2**k <= 2**52``: squared weights (at most 4) in units of
    ``2**-k`` sum exactly."""
    return 50 - max(0, math.ceil(math.log2(max(paths, 1))))


def squared_weight_units(design: PathDesign) -> NDArray[np.float64]:
    """Each path's squared weight in whole units of ``2**-sq_bits`` (exact sums)."""
    return np.asarray(np.rint(design.weight**2 * float(1 << sq_bits(design.paths))))


def _factor_halves(
    design: PathDesign, mu: float, width: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The factor ``Z = mu + Z0 + shift`` of the even and of the odd paths (padded)."""
    z = np.zeros(width, dtype=np.float32)
    z[: design.paths] = design.z0 + np.float32(mu) + design.shift
    return np.ascontiguousarray(z[0::2]), np.ascontiguousarray(z[1::2])


def _coefficients(inputs: KernelInputs) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``a = c / sqrt(1-rho)`` and ``b = sqrt(rho / (1-rho))`` in float32."""
    one_minus = 1.0 - inputs.rho
    a = (inputs.threshold / np.sqrt(one_minus)).astype(np.float32)
    b = np.sqrt(inputs.rho / one_minus).astype(np.float32)
    return a, b


def _exact_weighted_sum(
    weights: NDArray[np.float64], hit: NDArray[np.float64], exact: bool
) -> NDArray[np.int64]:
    """``weights @ hit`` exactly: BLAS when every partial sum stays below 2**53."""
    if exact:
        return np.rint(weights @ hit).astype(np.int64)
    out = np.zeros(hit.shape[1], dtype=np.int64)
    cents = weights.astype(np.int64)
    for i in range(hit.shape[0]):
        out += hit[i].astype(np.int64) * cents[i]
    return out


_BACKENDS: dict[str, Callable[[], Backend]] = {"numpy": NumpyBackend}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Make a backend available under ``name`` (e.g. a GPU backend)."""
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def get_backend(name: str = "numpy") -> Backend:
    """The backend registered as ``name``."""
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown kernel backend {name!r} (available: {', '.join(available_backends())})"
        )
    return factory()
