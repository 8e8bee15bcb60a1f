"""The Monte Carlo kernel against the Vasicek oracle, and its batch independence.

Vasicek test sizing: 2,000 loans and 20,000 paths. The Monte Carlo SE of the
99% quantile of the loss rate is sqrt(a(1-a)/S)/f(q) = 0.0013 (rho 0.15); the
finite-portfolio effect at 2,000 loans moves the quantile by under 1.3%
(0.0008, computed from the exact binomial mixture), so the test allows 4 SE
plus 2% of the quantile.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from montemap.credit import kernel as kmod
from montemap.credit.kernel import KernelInputs, available_backends, get_backend, register_backend
from montemap.credit.model import conditional_pd, vasicek_quantile
from montemap.credit.rng import StreamFactory
from montemap.credit.sampling import path_design


def _sim(
    inputs: KernelInputs, *, seed: int, mu: float, paths: int, estimator: str = "plain"
) -> kmod.KernelResult:
    design = path_design(seed, paths, estimator)
    return get_backend().simulate([inputs], seed=seed, mus=[mu], design=design)[0]


def _homogeneous(n: int, pd: float, rho: float) -> KernelInputs:
    return KernelInputs(
        np.arange(1, n + 1, dtype=np.int64),
        np.full(n, special.ndtri(pd)),
        np.full(n, rho),
        np.ones(n, dtype=np.int64),
    )


def _vasicek_density(x: float, pd: float, rho: float) -> float:
    y, c = special.ndtri(x), special.ndtri(pd)
    return float(
        np.sqrt((1 - rho) / rho)
        * np.exp(-0.5 * (np.sqrt(1 - rho) * y - c) ** 2 / rho + 0.5 * y * y)
    )


@pytest.mark.parametrize("rho", [0.15, 0.12])
def test_vasicek_quantiles_within_monte_carlo_error(rho: float) -> None:
    n, s, pd = 2000, 20_000, 0.01
    result = _sim(_homogeneous(n, pd, rho), seed=11, mu=0.0, paths=s)
    rate = np.sort(result.path_loss_cents / n)
    for a in (0.99, 0.999):
        q = vasicek_quantile(pd, rho, a)
        sim = rate[int(np.ceil(a * s)) - 1]
        se = np.sqrt(a * (1 - a) / s) / _vasicek_density(q, pd, rho)
        assert abs(sim - q) < 4 * se + 0.02 * q, (a, sim, q, se)
    # unconditional PD: the mean default rate and the per-loan frequencies
    assert rate.mean() == pytest.approx(pd, rel=0.05)
    assert result.loan_defaults.mean() / s == pytest.approx(pd, rel=0.05)
    np.testing.assert_array_equal(result.path_defaults, result.path_loss_cents)


def test_mean_conditional_pd_over_paths_is_the_unconditional_pd() -> None:
    z = StreamFactory(5).systematic_normals(100_000).astype(np.float64)
    for pd, rho in [(0.01, 0.15), (0.05, 0.03), (0.002, 0.24)]:
        p = conditional_pd(pd, rho, z)
        se = p.std() / np.sqrt(z.size)
        assert abs(p.mean() - pd) < 4 * se


def test_macro_shift_raises_defaults() -> None:
    inputs = _homogeneous(200, 0.02, 0.1)
    calm = _sim(inputs, seed=1, mu=0.0, paths=4000)
    stressed = _sim(inputs, seed=1, mu=-0.45, paths=4000)
    expected = float(special.ndtr(special.ndtri(0.02) + np.sqrt(0.1) * 0.45))
    assert stressed.loan_defaults.sum() > calm.loan_defaults.sum()
    assert stressed.loan_defaults.mean() / 4000 == pytest.approx(expected, rel=0.1)


def test_results_do_not_depend_on_batch_composition() -> None:
    rng = np.random.default_rng(0)
    n = 300
    inputs = KernelInputs(
        rng.permutation(10_000)[:n].astype(np.int64),
        special.ndtri(rng.uniform(0.001, 0.3, n)),
        rng.uniform(0.03, 0.24, n),
        rng.integers(0, 10**9, n),
    )
    full = _sim(inputs, seed=9, mu=-0.3, paths=77)
    parts = [np.arange(0, 1), np.arange(1, 130), np.arange(130, n)]
    total = np.zeros(77, dtype=np.int64)
    for idx in parts:
        sub = KernelInputs(
            *(getattr(inputs, f)[idx] for f in ("account_ids", "threshold", "rho", "loss_cents"))
        )
        part = _sim(sub, seed=9, mu=-0.3, paths=77)
        np.testing.assert_array_equal(part.loan_defaults, full.loan_defaults[idx])
        np.testing.assert_array_equal(part.loan_weighted, full.loan_weighted[idx])
        total += part.path_loss_cents
    np.testing.assert_array_equal(total, full.path_loss_cents)
    # reversing the loans changes nothing either
    rev = np.arange(n)[::-1]
    back = _sim(
        KernelInputs(
            *(getattr(inputs, f)[rev] for f in ("account_ids", "threshold", "rho", "loss_cents"))
        ),
        seed=9,
        mu=-0.3,
        paths=77,
    )
    np.testing.assert_array_equal(back.loan_defaults[::-1], full.loan_defaults)
    np.testing.assert_array_equal(back.path_loss_cents, full.path_loss_cents)


def test_small_blocks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _homogeneous(50, 0.2, 0.1)
    whole = _sim(inputs, seed=2, mu=0.0, paths=100)
    monkeypatch.setattr(kmod, "BLOCK_ELEMENTS", 1)
    blocks = _sim(inputs, seed=2, mu=0.0, paths=100)
    np.testing.assert_array_equal(whole.loan_defaults, blocks.loan_defaults)
    np.testing.assert_array_equal(whole.path_loss_cents, blocks.path_loss_cents)


def test_huge_exposures_stay_exact() -> None:
    big = np.full(3, 2**52, dtype=np.int64)
    inputs = KernelInputs(np.arange(3, dtype=np.int64), np.full(3, 10.0), np.full(3, 0.1), big)
    result = _sim(inputs, seed=0, mu=0.0, paths=5)
    assert result.path_loss_cents.tolist() == [3 * 2**52] * 5
    assert result.path_defaults.tolist() == [3] * 5


def test_input_validation_and_registry() -> None:
    with pytest.raises(ValueError, match="rho must lie in"):
        KernelInputs(np.arange(1), np.zeros(1), np.ones(1), np.ones(1, dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        KernelInputs(np.arange(2), np.zeros(1), np.zeros(2), np.ones(2, dtype=np.int64))
    with pytest.raises(ValueError, match="paths must be at least 1"):
        _sim(_homogeneous(1, 0.1, 0.1), seed=0, mu=0.0, paths=0)
    with pytest.raises(ValueError, match="unknown kernel backend 'gpu'"):
        get_backend("gpu")
    register_backend("numpy-copy", kmod.NumpyBackend)
    try:
        assert "numpy-copy" in available_backends()
        assert get_backend("numpy-copy").name == "numpy"
    finally:
        kmod._BACKENDS.pop("numpy-copy")
    empty = _sim(_homogeneous(0, 0.1, 0.1), seed=0, mu=0.0, paths=3)
    assert empty.path_loss_cents.tolist() == [0, 0, 0]
