"""Kernel throughput in loan-paths per second (one process, one core).

    python bench/bench_kernel.py [--quick]

Prints the kernel rate for a workflow-sized batch (400 loans x 1,000 paths),
a long run (2,000 loans x 20,000 paths), the cost of its stages, and the
whole batch handler (read 400 objects, parse, model, 4 scenarios, write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
from scipy import special

from montemap.credit.kernel import KernelInputs, get_backend
from montemap.credit.rng import StreamFactory, box_muller, padded_width
from montemap.credit.sampling import path_design


def _inputs(n: int) -> KernelInputs:
    rng = np.random.default_rng(0)
    return KernelInputs(
        np.arange(1, n + 1, dtype=np.int64),
        special.ndtri(rng.uniform(0.005, 0.05, n)),
        rng.uniform(0.03, 0.24, n),
        rng.integers(10**5, 10**8, n),
    )


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Fastest wall time of ``repeat`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def kernel_rate(n: int, paths: int, repeat: int) -> float:
    inputs = _inputs(n)
    backend = get_backend("numpy")
    design = path_design(1, paths, "is")
    secs = best_of(repeat, lambda: backend.simulate([inputs], seed=1, mus=[-0.15], design=design))
    return n * paths / secs


def kernel_rate_scenarios(n: int, paths: int, scenarios: int, repeat: int) -> float:
    """Loan-path-scenarios per second when ``scenarios`` share the draws (CRN)."""
    inputs = _inputs(n)
    backend = get_backend("numpy")
    design = path_design(1, paths, "is")
    mus = [-0.15 * k for k in range(scenarios)]
    secs = best_of(
        repeat, lambda: backend.simulate([inputs] * scenarios, seed=1, mus=mus, design=design)
    )
    return n * paths * scenarios / secs


def stages(n: int, paths: int) -> None:
    width = padded_width(paths)
    ids = np.arange(n, dtype=np.uint64)
    raw = np.empty((n, width // 2), dtype=np.uint64)
    streams = StreamFactory(1)
    per = n * width
    position = best_of(5, lambda: [streams._position(int(i), 0, 0) for i in ids.tolist()])
    draws = best_of(5, lambda: streams.idiosyncratic_raw(ids, raw))
    bm = best_of(5, lambda: box_muller(raw))
    even, _ = box_muller(raw)
    a = np.zeros((n, 1), np.float32)
    b = np.ones((n, 1), np.float32)
    z = np.zeros(width // 2, np.float32)

    def compare() -> None:
        bar = np.multiply(b, z[None, :])
        np.subtract(a, bar, out=bar)
        hit = np.less(even, bar)
        hit.sum(axis=1)
        hit.sum(axis=0)
        np.ones(n) @ hit.astype(np.float64)

    cmp = 2 * best_of(5, compare)
    print(f"  stages at {n} x {paths} (ns per loan-path):")
    print(f"    position {n} streams      {position / per * 1e9:6.2f}")
    print(f"    raw draws (incl. above) {draws / per * 1e9:6.2f}")
    print(f"    Box-Muller              {bm / per * 1e9:6.2f}")
    print(f"    threshold, compare, sums{cmp / per * 1e9:6.2f}")


def handler_rate(repeat: int) -> None:
    from montemap.credit.batch import handle_batch
    from montemap.credit.generator import generate
    from montemap.credit.portfolio import local_destination
    from montemap.storage import LocalObjectStore

    with tempfile.TemporaryDirectory() as tmp:
        generate(local_destination(tmp), 400, seed=1, as_of=dt.date(2026, 11, 1))
        store = LocalObjectStore(os.path.join(tmp, "buckets"))
        event = {
            "Items": [
                {"Bucket": "montemap-source", "Key": f"data/data-gen-{i:06d}.csv"}
                for i in range(1, 401)
            ],
            "BatchInput": {"output_bucket": "out", "paths": 1000, "as_of": "2026-11-27"},
        }
        secs = best_of(repeat, lambda: handle_batch(event, None, store=store))
        print(
            f"handle_batch, 400 loans x 4 scenarios x 1,000 paths: {secs * 1e3:.0f} ms "
            f"({400 * 4 * 1000 / secs:.3g} loan-paths/s including I/O, parsing, model, writing)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    for n, paths in ((400, 1000), (400, 10_000), (2000, 20_000)):
        rate = kernel_rate(n, paths, repeat)
        print(f"kernel numpy {n:>5} loans x {paths:>6} paths: {rate:.3g} loan-paths/s")
    rate = kernel_rate_scenarios(400, 1000, 4, repeat)
    print(f"kernel numpy   400 loans x   1000 paths x 4 scenarios (CRN): {rate:.3g} /s")
    stages(128, 1000)  # one block of the kernel at 1,000 paths
    handler_rate(repeat)


if __name__ == "__main__":
    main()
