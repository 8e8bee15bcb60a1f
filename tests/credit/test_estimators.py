"""Importance sampling, intervals, CRN monotonicity and Euler contributions against
oracles written from the formulas (scipy.stats.norm / binom), not from the code.

Oracles:
* finite homogeneous portfolio of n loans, LGD = EAD = 1: the number of defaults
  is a binomial mixture, P(L <= k) = int Binom(k; n, p(z)) phi(z) dz with
  p(z) = Phi((Phi^-1(PD) - sqrt(rho) z) / sqrt(1 - rho)); VaR_a is the smallest k
  with P(L <= k) >= a, ES_a = (1/(1-a)) int_a^1 VaR_u du;
* large portfolio (Vasicek): VaR_a / n -> Phi((Phi^-1(PD) + sqrt(rho) Phi^-1(a)) / sqrt(1-rho)),
  ES_a / n -> (1/(1-a)) int_a^1 of the same;
* ASRF Euler share of a segment in ES_a: E[L_k(Z) | Z <= Phi^-1(1-a)] / sum over segments.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from montemap.credit.contributions import allocate, es_path_weights, factor_bins
from montemap.credit.estimators import difference_table
from montemap.credit.kernel import KernelInputs, get_backend
from montemap.credit.sampling import path_design

ALPHAS = (0.99, 0.999)


def _known(x: float | None) -> float:
    """A bound or SE the run estimated (these runs have enough paths in the tail)."""
    assert x is not None
    return x


def _p(z: np.ndarray | float, pd: float, rho: float) -> np.ndarray:
    c = stats.norm.ppf(pd)
    return np.asarray(stats.norm.cdf((c - np.sqrt(rho) * np.asarray(z)) / np.sqrt(1 - rho)))


def _finite_distribution(n: int, pd: float, rho: float) -> np.ndarray:
    """P(L <= k), k = 0..n, by Gauss-Hermite-free quadrature on a fine z grid."""
    z = np.linspace(-8.5, 8.5, 2501)
    w = stats.norm.pdf(z) * (z[1] - z[0])
    k = np.arange(n + 1)
    cdf = stats.binom.cdf(k[:, None], n, _p(z, pd, rho)[None, :]) @ w
    capped: np.ndarray = np.minimum(cdf / cdf[-1], 1.0)
    return capped


def _finite_var_es(cdf: np.ndarray, alpha: float) -> tuple[float, float]:
    var = int(np.searchsorted(cdf, alpha - 1e-12))
    # ES = (1/(1-a)) [ (F(VaR) - a) VaR + sum_{k > VaR} k P(L = k) ]
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    k = np.arange(cdf.shape[0])
    es = ((cdf[var] - alpha) * var + float((k[var + 1 :] * pmf[var + 1 :]).sum())) / (1 - alpha)
    return float(var), float(es)


def _vasicek(pd: float, rho: float, alpha: float) -> tuple[float, float]:
    def q(u: float) -> float:
        return float(_p(stats.norm.ppf(1 - u), pd, rho))

    es = integrate.quad(q, alpha, 1.0, limit=200)[0] / (1 - alpha)
    return q(alpha), es


def _homogeneous(n: int, pd: float, rho: float, first_id: int = 1) -> KernelInputs:
    return KernelInputs(
        np.arange(first_id, first_id + n, dtype=np.int64),
        np.full(n, stats.norm.ppf(pd)),
        np.full(n, rho),
        np.full(n, 100, dtype=np.int64),  # one currency unit per default
    )


def _losses(
    inputs: KernelInputs, seed: int, paths: int, estimator: str
) -> tuple[np.ndarray, np.ndarray]:
    design = path_design(seed, paths, estimator)
    result = get_backend().simulate([inputs], seed=seed, mus=[0.0], design=design)[0]
    return result.path_loss_cents[None, :] / 100.0, design.weight


def test_is_converges_to_vasicek_large_portfolio() -> None:
    """2,000 loans, 8,000 paths: the exact finite-portfolio value is within 3% of the
    Vasicek value at these levels; the IS estimates land within 4 bootstrap SEs plus
    the granularity gap."""
    n, pd, rho = 2000, 0.01, 0.15
    losses, weights = _losses(_homogeneous(n, pd, rho), seed=5, paths=8000, estimator="is")
    tails, _ = difference_table(losses, weights, ALPHAS, seed=5, replicates=200)
    cdf = _finite_distribution(n, pd, rho)
    for a in ALPHAS:
        v_var, v_es = _vasicek(pd, rho, a)
        f_var, f_es = _finite_var_es(cdf, a)
        assert abs(f_var / n - v_var) < 0.03 * v_var and abs(f_es / n - v_es) < 0.03 * v_es
        t = tails[0][a]
        assert abs(t.var - f_var) <= 4 * _known(t.var_se) + 1, (a, t, f_var)
        assert abs(t.es - f_es) <= 4 * _known(t.es_se) + 1, (a, t, f_es)
        assert abs(t.var / n - v_var) < 4 * _known(t.var_se) / n + 0.03 * v_var
        assert abs(t.es / n - v_es) < 4 * _known(t.es_se) / n + 0.03 * v_es


def test_intervals_cover_the_true_value_over_independent_seeds() -> None:
    """60 seeds, 200 loans x 1,000 paths, IS: each 95% interval of VaR and ES at 99% and
    99.9% must contain the exact finite-portfolio value in at least 90% of the runs."""
    n, pd, rho = 200, 0.02, 0.12
    truth = {a: _finite_var_es(_finite_distribution(n, pd, rho), a) for a in ALPHAS}
    inputs = _homogeneous(n, pd, rho)
    seeds = range(100, 160)
    hits = {(a, f): 0 for a in ALPHAS for f in ("var", "es")}
    for seed in seeds:
        losses, weights = _losses(inputs, seed, 1000, "is")
        tails, _ = difference_table(losses, weights, ALPHAS, seed=seed, replicates=200)
        for a in ALPHAS:
            t = tails[0][a]
            hits[(a, "var")] += _known(t.var_ci[0]) <= truth[a][0] <= _known(t.var_ci[1])
            hits[(a, "es")] += _known(t.es_ci[0]) <= truth[a][1] <= _known(t.es_ci[1])
    for key, count in hits.items():
        assert count / len(seeds) >= 0.90, (key, count)


def test_crn_losses_and_tails_never_fall_as_the_shock_rises() -> None:
    """Same draws in every scenario: with a threshold and a factor mean that both move
    towards default, every path loss and every VaR/ES rises."""
    n = 300
    rng = np.random.default_rng(3)
    pd0 = rng.uniform(0.005, 0.08, n)
    rho = rng.uniform(0.03, 0.2, n)
    ids = rng.choice(10**9, n, replace=False).astype(np.int64)
    cents = rng.integers(1_000, 5_000_000, n).astype(np.int64)
    shocks = [0, 100, 200, 300]
    scenarios = [
        KernelInputs(ids, stats.norm.ppf(np.minimum(pd0 * (1 + s / 200), 0.9)), rho, cents)
        for s in shocks
    ]
    design = path_design(8, 1000, "is")
    results = get_backend().simulate(
        scenarios, seed=8, mus=[-0.15 * s / 100 for s in shocks], design=design
    )
    losses = np.stack([r.path_loss_cents for r in results]) / 100.0
    assert np.all(np.diff(losses, axis=0) >= 0)
    assert np.all(np.diff(np.stack([r.loan_defaults for r in results]), axis=0) >= 0)
    tails, diffs = difference_table(losses, design.weight, ALPHAS, seed=8, replicates=50)
    for a in ALPHAS:
        assert all(tails[j][a].var <= tails[j + 1][a].var for j in range(3))
        assert all(tails[j][a].es <= tails[j + 1][a].es for j in range(3))
        assert diffs[3][a].var == pytest.approx(tails[3][a].var - tails[0][a].var)
        assert _known(diffs[3][a].var_ci[0]) <= diffs[3][a].var <= _known(diffs[3][a].var_ci[1])


def test_euler_contributions_sum_to_es_and_match_the_analytic_share() -> None:
    """Two segments (A: PD 1%, rho 0.15; B: PD 4%, rho 0.08), 3,000 loans each."""
    n, paths, seed, a = 3000, 4000, 21, 0.99
    seg_a, seg_b = _homogeneous(n, 0.01, 0.15, 1), _homogeneous(n, 0.04, 0.08, n + 1)
    both = KernelInputs(
        *(
            np.concatenate([getattr(seg_a, f), getattr(seg_b, f)])
            for f in ("account_ids", "threshold", "rho", "loss_cents")
        )
    )
    losses, weights = _losses(both, seed, paths, "is")
    tails, _ = difference_table(losses, weights, (a,), seed=seed, replicates=50)
    t = tails[0][a]
    design = path_design(seed, paths, "is")
    factor = design.z0.astype(np.float64) + design.shift
    omega = es_path_weights(losses[0], weights, a, t.var)
    centres, masses = factor_bins(factor, [omega])
    pd = np.repeat([0.01, 0.04], n)
    rho = np.repeat([0.15, 0.08], n)
    alloc = allocate(np.ones(2 * n), pd, rho, centres, masses, [t.es])[0]
    assert alloc.per_loan.sum() == pytest.approx(t.es, rel=1e-12)
    share_a = alloc.per_loan[:n].sum() / t.es
    z_a = stats.norm.ppf(1 - a)

    def tail_mean(pd_: float, rho_: float) -> float:
        area: float = integrate.quad(
            lambda z: float(_p(z, pd_, rho_)) * stats.norm.pdf(z), -12, z_a
        )[0]
        return area

    part_a, part_b = tail_mean(0.01, 0.15), tail_mean(0.04, 0.08)
    assert share_a == pytest.approx(part_a / (part_a + part_b), abs=0.02)
    assert 0.9 < alloc.scale < 1.1
