"""The kernel's envelope search and candidate sums against a plain dense oracle.

The oracle draws every loan-path's normal, compares it with every scenario's threshold
``a - b Z`` in float32 (the documented copula) and sums the hits with int64 arithmetic.
The kernel only compares the loan-paths under the envelope of the scenarios, packs the
scenarios' answers into bytes and sums through bins: every result must be the oracle's,
bit for bit, whatever the scenarios (ordered or not, with rho differing between them,
more than a byte's worth of them, infinite or NaN thresholds), the block and flush sizes,
or what the thread's reused workspace held before.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import special

from montemap.credit import kernel as kmod
from montemap.credit import kernel_tally
from montemap.credit.kernel import KernelInputs, KernelResult, get_backend, squared_weight_units
from montemap.credit.kernel_envelope import path_columns
from montemap.credit.rng import StreamFactory, box_muller, padded_width
from montemap.credit.sampling import PathDesign, path_design


def _oracle(
    scenarios: list[KernelInputs], seed: int, mus: list[float], design: PathDesign
) -> list[dict[str, np.ndarray]]:
    """Every loan-path compared with every scenario's threshold, summed in int64."""
    paths = design.paths
    ids = scenarios[0].account_ids
    raw = np.empty((ids.shape[0], padded_width(paths) // 2), dtype=np.uint64)
    StreamFactory(seed).idiosyncratic_raw(ids.astype(np.uint64), raw)
    even, odd = box_muller(raw)
    eps = np.empty((ids.shape[0], 2 * raw.shape[1]), dtype=np.float32)
    eps[:, 0::2], eps[:, 1::2] = even, odd
    eps = eps[:, :paths]
    units = design.weight_units.astype(np.int64)
    squares = squared_weight_units(design).astype(np.int64)
    cents = scenarios[0].loss_cents
    out = []
    for inputs, mu in zip(scenarios, mus, strict=True):
        one_minus = 1.0 - inputs.rho
        a = (inputs.threshold / np.sqrt(one_minus)).astype(np.float32)
        b = np.sqrt(inputs.rho / one_minus).astype(np.float32)
        z = design.z0 + np.float32(mu) + design.shift
        hit = eps < a[:, None] - b[:, None] * z[None, :]
        out.append(
            {
                "loan_defaults": hit.sum(axis=1),
                "loan_weighted": (hit * units).sum(axis=1).astype(np.float64),
                "loan_weighted_sq": (hit * squares).sum(axis=1).astype(np.float64),
                "path_loss_cents": (hit * cents[:, None]).sum(axis=0),
                "path_defaults": hit.sum(axis=0),
            }
        )
    return out


def _assert_matches(got: list[KernelResult], want: list[dict[str, np.ndarray]]) -> None:
    assert len(got) == len(want)
    for result, expected in zip(got, want, strict=True):
        for field, value in expected.items():
            actual = getattr(result, field)
            assert actual.dtype == value.dtype, field
            np.testing.assert_array_equal(actual, value, err_msg=field)


def _scenarios(
    rng: np.random.Generator, n: int, k: int, *, shared_rho: bool, ordered: bool
) -> list[KernelInputs]:
    ids = rng.permutation(10**7)[:n].astype(np.int64) + 1
    loss = rng.integers(0, 10**9, n)
    pd = rng.uniform(0.001, 0.3, n)
    rho = rng.uniform(0.03, 0.24, n)
    out = []
    for j in range(k):
        pd_j = np.minimum(pd * (1 + 0.2 * j), 0.9) if ordered else rng.uniform(0.001, 0.5, n)
        rho_j = rho if shared_rho else rng.uniform(0.0, 0.3, n)
        out.append(KernelInputs(ids, special.ndtri(pd_j), rho_j, loss))
    return out


@pytest.mark.parametrize(
    ("n", "paths", "k", "shared_rho", "ordered", "estimator"),
    [
        (150, 1000, 4, True, True, "is"),  # the workflow's shape
        (70, 333, 3, False, False, "is"),  # rho per scenario, no scenario dominates
        (40, 77, 1, True, True, "plain"),
        (25, 64, 11, True, False, "is"),  # two groups of scenarios
        (9, 5, 2, False, True, "plain"),  # fewer paths than a row's alignment
    ],
)
def test_every_result_is_the_dense_oracles(
    n: int, paths: int, k: int, shared_rho: bool, ordered: bool, estimator: str
) -> None:
    rng = np.random.default_rng(n * 1000 + paths)
    scenarios = _scenarios(rng, n, k, shared_rho=shared_rho, ordered=ordered)
    mus = [float(m) for m in rng.uniform(-1.0, 0.5, k)]
    design = path_design(3, paths, estimator)
    got = get_backend().simulate(scenarios, seed=3, mus=mus, design=design)
    want = _oracle(scenarios, 3, mus, design)
    _assert_matches(got, want)
    assert sum(int(w["path_defaults"].sum()) for w in want) > 0  # the test sees defaults


def test_infinite_and_nan_thresholds_and_huge_exposures() -> None:
    rng = np.random.default_rng(8)
    n = 12
    ids = np.arange(100, 100 + n, dtype=np.int64)
    loss = np.full(n, 2**51, dtype=np.int64)  # all together past 2**53: int64 sums
    base = special.ndtri(rng.uniform(0.05, 0.5, n))
    odd = base.copy()
    odd[0], odd[1], odd[2] = np.inf, -np.inf, np.nan
    rho = rng.uniform(0.05, 0.2, n)
    scenarios = [KernelInputs(ids, base, rho, loss), KernelInputs(ids, odd, rho, loss)]
    design = path_design(1, 50, "is")
    got = get_backend().simulate(scenarios, seed=1, mus=[0.0, -0.2], design=design)
    want = _oracle(scenarios, 1, [0.0, -0.2], design)
    _assert_matches(got, want)
    assert got[1].loan_defaults[:3].tolist() == [50, 0, 0]


def test_small_blocks_and_flushes_and_a_reused_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    scenarios = _scenarios(rng, 60, 4, shared_rho=True, ordered=True)
    mus = [0.0, -0.15, -0.3, -0.45]
    design = path_design(7, 200, "is")
    want = _oracle(scenarios, 7, mus, design)
    backend = get_backend()
    _assert_matches(backend.simulate(scenarios, seed=7, mus=mus, design=design), want)
    # a workspace left by other shapes (wider, narrower) changes nothing
    other = _scenarios(rng, 5, 2, shared_rho=False, ordered=False)
    for paths in (2000, 40):
        backend.simulate(other, seed=1, mus=[0.0, 0.1], design=path_design(1, paths, "is"))
        _assert_matches(backend.simulate(scenarios, seed=7, mus=mus, design=design), want)
    # blocks of 7 loans, a flush after every block, buffers grown block by block
    monkeypatch.setattr(kmod, "BLOCK_ELEMENTS", 7 * padded_width(200))
    monkeypatch.setattr(kernel_tally, "FLUSH_CANDIDATES", 1)
    _assert_matches(backend.simulate(scenarios, seed=7, mus=mus, design=design), want)


def test_path_columns_put_even_paths_first() -> None:
    columns = path_columns(8)
    assert columns.tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_a_fresh_thread_grows_its_buffers_keeping_what_they_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(4)
    scenarios = _scenarios(rng, 80, 3, shared_rho=True, ordered=True)
    mus = [0.0, -0.2, -0.4]
    design = path_design(5, 300, "is")
    want = _oracle(scenarios, 5, mus, design)
    monkeypatch.setattr(kmod, "BLOCK_ELEMENTS", 3 * padded_width(300))  # 27 blocks
    got: list[list[KernelResult]] = []
    worker = threading.Thread(
        target=lambda: got.append(get_backend().simulate(scenarios, seed=5, mus=mus, design=design))
    )
    worker.start()
    worker.join()
    _assert_matches(got[0], want)


def test_groups_shrink_for_many_paths_or_loans_and_results_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert kernel_tally.scenario_groups(4, 1024, 400) == [[0, 1, 2, 3]]
    assert [len(g) for g in kernel_tally.scenario_groups(20, 1024, 400)] == [8, 8, 4]
    many_paths = kernel_tally.scenario_groups(3, 1 << 18, 400)
    many_loans = kernel_tally.scenario_groups(3, 1024, 1 << 18)
    assert many_paths == many_loans == [[0, 1], [2]]  # 4 bytes x 2**18 bins
    assert kernel_tally.scenario_groups(2, 1 << 22, 10) == [[0], [1]]
    rng = np.random.default_rng(6)
    scenarios = _scenarios(rng, 30, 5, shared_rho=False, ordered=False)
    mus = [0.1, -0.3, 0.0, -0.6, -0.1]
    design = path_design(9, 120, "is")
    monkeypatch.setattr(kernel_tally, "MAX_BINS", 2 * padded_width(120))
    assert [len(g) for g in kernel_tally.scenario_groups(5, padded_width(120), 30)] == [1] * 5
    monkeypatch.setattr(kernel_tally, "MAX_BINS", 4 * padded_width(120))  # pairs
    assert [len(g) for g in kernel_tally.scenario_groups(5, padded_width(120), 30)] == [2, 2, 1]
    got = get_backend().simulate(scenarios, seed=9, mus=mus, design=design)
    _assert_matches(got, _oracle(scenarios, 9, mus, design))
