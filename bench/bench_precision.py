"""Precision of VaR 99.9% (and 99%, ES): plain Monte Carlo vs importance sampling.

One run measures, at the same number of paths, the standard error of each
estimator as the standard deviation of its estimates over independent seeds
(the true sampling error, not a reported one), on a heterogeneous book:
PDs 0.5-8%, Basel-like correlations 3-20%, exposures 10k-500k.

    python bench/bench_precision.py [--loans 2000] [--paths 1000] [--seeds 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import special

from montemap.credit.estimators import difference_table
from montemap.credit.kernel import KernelInputs, get_backend
from montemap.credit.sampling import path_design

ALPHAS = (0.99, 0.999)


def book(n: int) -> KernelInputs:
    rng = np.random.default_rng(2024)
    pd = rng.uniform(0.005, 0.08, n)
    rho = rng.uniform(0.03, 0.20, n)
    cents = rng.integers(1_000_000, 50_000_000, n).astype(np.int64)
    ids = rng.choice(10**12, n, replace=False).astype(np.int64)
    return KernelInputs(ids, special.ndtri(pd), rho, cents)


def estimates(inputs: KernelInputs, paths: int, seeds: int, estimator: str) -> np.ndarray:
    out = np.empty((seeds, len(ALPHAS), 2))
    for i in range(seeds):
        seed = 1000 + i
        design = path_design(seed, paths, estimator)
        result = get_backend().simulate([inputs], seed=seed, mus=[0.0], design=design)[0]
        tails, _ = difference_table(
            result.path_loss_cents[None, :] / 100.0, design.weight, ALPHAS, seed=seed, replicates=2
        )
        out[i] = [[tails[0][a].var, tails[0][a].es] for a in ALPHAS]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=2000)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=40)
    args = parser.parse_args()
    inputs = book(args.loans)
    started = time.perf_counter()
    plain = estimates(inputs, args.paths, args.seeds, "plain")
    imp = estimates(inputs, args.paths, args.seeds, "is")
    print(
        f"{args.loans} loans, {args.paths} paths, {args.seeds} seeds per estimator "
        f"({time.perf_counter() - started:.1f} s)"
    )
    print(
        f"{'figure':<10} {'plain mean':>14} {'plain se':>12} {'IS mean':>14} {'IS se':>12} {'ratio':>7}"
    )
    for ia, a in enumerate(ALPHAS):
        for f, name in enumerate(("VaR", "ES")):
            p, q = plain[:, ia, f], imp[:, ia, f]
            ratio = p.std(ddof=1) / q.std(ddof=1)
            print(
                f"{name} {a:<6} {p.mean():14,.0f} {p.std(ddof=1):12,.0f} "
                f"{q.mean():14,.0f} {q.std(ddof=1):12,.0f} {ratio:6.1f}x"
            )


if __name__ == "__main__":
    main()
