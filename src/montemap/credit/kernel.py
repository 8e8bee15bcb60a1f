"""The Monte Carlo kernel: correlated defaults of a block of loans over S paths.

One-factor Gaussian copula: loan ``i`` defaults on path ``p`` iff
``sqrt(rho_i) Z_p + sqrt(1-rho_i) eps_ip < c_i``, with ``c_i = Phi^-1(PD_i)``,
``Z_p = mu + Z0_p`` shared by all loans and ``eps_ip`` the loan's own draw.
Written as ``eps_ip < a_i - b_i Z_p`` (``a = c/sqrt(1-rho)``,
``b = sqrt(rho/(1-rho))``), each loan-path costs one uniform, half a
Box-Muller transform (32 random bits), and a multiply-subtract and a compare
against the envelope of every scenario's threshold, all in float32; only the few
loan-paths under the envelope are compared with each scenario's own threshold and
summed (:mod:`montemap.credit.kernel_envelope`, :mod:`montemap.credit.kernel_tally`).

Backends are pluggable (:func:`register_backend`); every backend must honour
the stream layout of :mod:`montemap.credit.rng` so results do not depend on
batching. Losses are integer cents so sums are exact in any order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from montemap.credit.kernel_envelope import Envelope, path_columns
from montemap.credit.kernel_scratch import workspace
from montemap.credit.kernel_tally import CandidateTally
from montemap.credit.rng import StreamFactory, box_muller, padded_width
from montemap.credit.sampling import PathDesign

_T = TypeVar("_T", bound=np.generic)

#: Largest float64 integer below which every partial sum is exact.
_EXACT = float(1 << 53)
#: Loan-path elements per block (keeps the working set in cache: 64 loans x 1,024 paths,
#: whose raw draws and float32 normals are 256 KB each).
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

    Each block's idiosyncratic normals are drawn once for every scenario (common random
    numbers) and compared with an envelope of the scenarios' thresholds
    (:mod:`montemap.credit.kernel_envelope`); the few loan-paths below it are compared
    with each scenario's own threshold and summed (:mod:`montemap.credit.kernel_tally`),
    so an extra scenario costs work on those candidates only, not on every loan-path.
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
        width = padded_width(paths)
        n = first.account_ids.shape[0]
        coeffs = [_coefficients(sc) for sc in scenarios]
        columns = path_columns(width)
        factors = [_by_column(_factor(design, mu, width), columns) for mu in mus]
        units = _path_units(design, width)
        cents = first.loss_cents.astype(np.int64, copy=False)
        exact = float(first.loss_cents.astype(np.float64).sum()) < _EXACT
        rows = max(1, BLOCK_ELEMENTS // width)
        work = workspace(min(rows, n), width // 2)
        tally = CandidateTally(coeffs, factors, _by_column(units, columns), cents, exact, work)
        envelope = Envelope(coeffs, factors, paths)
        ids = first.account_ids.astype(np.uint64)
        streams = StreamFactory(seed)
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            block = work.block(stop - start)
            streams.idiosyncratic_raw(ids[start:stop], block.raw)
            box_muller(block.raw, (block.normals[0], block.normals[1], block.bits))
            tally.add(envelope.candidates(block, start), block.normals, start)
        tally.flush()
        results: list[KernelResult] = []
        for bins in tally.bins:
            sums = bins.per_scenario()
            by_path = columns[:paths]
            for q in range(len(bins.group)):
                results.append(
                    KernelResult(
                        sums.loan_defaults[:, q].copy(),
                        sums.loan_weighted[0, :, q].copy(),
                        sums.path_loss[by_path, q],
                        sums.path_defaults[by_path, q],
                        sums.loan_weighted[1, :, q].copy(),
                    )
                )
        return results


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


def _path_units(design: PathDesign, width: int) -> NDArray[np.float64]:
    """Two rows over the paths: weight units and squared-weight units (integers, so their
    sums are exact in any order); padding paths carry zeros."""
    units = np.zeros((2, width), dtype=np.float64)
    units[0, : design.paths] = design.weight_units
    units[1, : design.paths] = squared_weight_units(design)
    return units


def sq_bits(paths: int) -> int:
    """``k`` with ``paths * 4 * 2**k <= 2**52``: squared weights (at most 4) in units of
    ``2**-k`` sum exactly."""
    return 50 - max(0, math.ceil(math.log2(max(paths, 1))))


def squared_weight_units(design: PathDesign) -> NDArray[np.float64]:
    """Each path's squared weight in whole units of ``2**-sq_bits`` (exact sums)."""
    return np.asarray(np.rint(design.weight**2 * float(1 << sq_bits(design.paths))))


def _factor(design: PathDesign, mu: float, width: int) -> NDArray[np.float32]:
    """The factor ``Z = mu + Z0 + shift`` of every path (padding paths: 0)."""
    z = np.zeros(width, dtype=np.float32)
    z[: design.paths] = design.z0 + np.float32(mu) + design.shift
    return z


def _by_column(by_path: NDArray[_T], columns: NDArray[np.intp]) -> NDArray[_T]:
    """``by_path`` (paths on its last axis) reordered by column."""
    out = np.empty_like(by_path)
    out[..., columns] = by_path
    return out


def _coefficients(inputs: KernelInputs) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``a = c / sqrt(1-rho)`` and ``b = sqrt(rho / (1-rho))`` in float32."""
    one_minus = 1.0 - inputs.rho
    a = (inputs.threshold / np.sqrt(one_minus)).astype(np.float32)
    b = np.sqrt(inputs.rho / one_minus).astype(np.float32)
    return a, b


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
