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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from montemap.credit.rng import StreamFactory, box_muller, padded_width

#: Largest float64 integer below which every partial sum is exact.
_EXACT = float(1 << 53)
#: Loan-path elements per block (keeps the working set in cache).
BLOCK_ELEMENTS = 1 << 17


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

    loan_defaults: NDArray[np.int64]  # (loans,)
    path_loss_cents: NDArray[np.int64]  # (paths,)
    path_defaults: NDArray[np.int64]  # (paths,)


class Backend(Protocol):
    """A kernel implementation."""

    name: str

    def simulate(
        self, inputs: KernelInputs, *, seed: int, shock_bp: int, mu: float, paths: int
    ) -> KernelResult:
        """Simulate ``paths`` paths of one scenario (shock ``shock_bp``, factor mean ``mu``)."""
        ...


class NumpyBackend:
    """The reference backend: NumPy, float32, blocks of loans sized for the cache."""

    name = "numpy"

    def simulate(
        self, inputs: KernelInputs, *, seed: int, shock_bp: int, mu: float, paths: int
    ) -> KernelResult:
        if paths < 1:
            raise ValueError(f"paths must be at least 1, got {paths}")
        streams = StreamFactory(seed)
        width = padded_width(paths)
        half = width // 2
        z = np.zeros(width, dtype=np.float32)
        z[:paths] = streams.systematic_normals(shock_bp, paths) + np.float32(mu)
        z_even, z_odd = np.ascontiguousarray(z[0::2]), np.ascontiguousarray(z[1::2])
        n_even, n_odd = (paths + 1) // 2, paths // 2

        n = inputs.account_ids.shape[0]
        one_minus = 1.0 - inputs.rho
        a = (inputs.threshold / np.sqrt(one_minus)).astype(np.float32)
        b = np.sqrt(inputs.rho / one_minus).astype(np.float32)
        ids = inputs.account_ids.astype(np.uint64)
        weights = inputs.loss_cents.astype(np.float64)

        loan_defaults = np.zeros(n, dtype=np.int64)
        loss_even = np.zeros(half, dtype=np.int64)
        loss_odd = np.zeros(half, dtype=np.int64)
        defaults_even = np.zeros(half, dtype=np.int64)
        defaults_odd = np.zeros(half, dtype=np.int64)
        rows = max(1, BLOCK_ELEMENTS // width)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            raw = np.empty((stop - start, half), dtype=np.uint64)
            streams.idiosyncratic_raw(shock_bp, ids[start:stop], raw)
            eps_even, eps_odd = box_muller(raw)
            a_col, b_col = a[start:stop, None], b[start:stop, None]
            w = weights[start:stop]
            for eps, zs, count, loss, dflt in (
                (eps_even, z_even, n_even, loss_even, defaults_even),
                (eps_odd, z_odd, n_odd, loss_odd, defaults_odd),
            ):
                if count == 0:
                    continue
                bar = np.multiply(b_col, zs[None, :])
                np.subtract(a_col, bar, out=bar)
                hit = np.less(eps, bar)
                hit[:, count:] = False
                loan_defaults[start:stop] += hit.sum(axis=1)
                dflt += hit.sum(axis=0)
                loss += _exact_weighted_sum(w, hit)
        path_loss = np.empty(width, dtype=np.int64)
        path_loss[0::2], path_loss[1::2] = loss_even, loss_odd
        path_defaults = np.empty(width, dtype=np.int64)
        path_defaults[0::2], path_defaults[1::2] = defaults_even, defaults_odd
        return KernelResult(loan_defaults, path_loss[:paths], path_defaults[:paths])


def _exact_weighted_sum(weights: NDArray[np.float64], hit: NDArray[np.bool_]) -> NDArray[np.int64]:
    """``weights @ hit`` exactly: BLAS when every partial sum stays below 2**53."""
    if float(weights.sum()) < _EXACT:
        return np.rint(weights @ hit.astype(np.float64)).astype(np.int64)
    out = np.zeros(hit.shape[1], dtype=np.int64)
    cents = weights.astype(np.int64)
    for i in range(hit.shape[0]):
        out += hit[i] * cents[i]
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
