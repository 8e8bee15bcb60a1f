"""The kernel's reused block arrays and the inlined stream positioning change no value:
Box-Muller into caller buffers against the documented formula, each loan's raw draws
against a Philox built for that loan alone, and blocks of any size (a short last block
after full ones) against one block, for every result of several scenarios."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from montemap.credit import kernel as kmod
from montemap.credit.kernel import KernelInputs, get_backend
from montemap.credit.rng import StreamFactory, box_muller, padded_width
from montemap.credit.sampling import path_design


def _raw(seed: int, ids: list[int], width: int) -> np.ndarray:
    out = np.empty((len(ids), width), dtype=np.uint64)
    StreamFactory(seed).idiosyncratic_raw(np.array(ids, dtype=np.uint64), out)
    return out


def _formula(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transform as documented, step by step in float32 (fresh arrays)."""
    lo = (raw & np.uint64(0xFFFFFFFF)).astype(np.uint32) >> np.uint32(8)
    hi = (raw >> np.uint64(32)).astype(np.uint32) >> np.uint32(8)
    one_minus_u1 = (np.uint32(1 << 24) - lo).astype(np.float32) * np.float32(2.0**-24)
    r = np.sqrt(np.log(one_minus_u1) * np.float32(-2.0))
    theta = hi.astype(np.float32) * np.float32(2.0 * np.pi * 2.0**-24)
    return np.cos(theta) * r, np.sin(theta) * r


def test_box_muller_into_buffers_is_the_documented_transform() -> None:
    raw = _raw(3, [1, 77, 10**12], 96)
    raw[0, :4] = [0, 0xFFFFFFFF, 0xFFFFFFFF_00000000, 0xFFFFFFFF_FFFFFFFF]  # the extremes
    want_even, want_odd = _formula(raw)
    shape = raw.shape
    buffers = (np.empty(shape, np.float32), np.empty(shape, np.float32), np.empty(shape, np.uint32))
    even, odd = box_muller(raw, buffers)
    assert even is buffers[0] and odd is buffers[1]
    fresh_even, fresh_odd = box_muller(raw)
    for got in (even, fresh_even):
        np.testing.assert_array_equal(got.view(np.uint32), want_even.view(np.uint32))
    for got in (odd, fresh_odd):
        np.testing.assert_array_equal(got.view(np.uint32), want_odd.view(np.uint32))


def test_each_loans_draws_are_its_own_philox_stream() -> None:
    seed, ids, width = 11, [5, 2**40 + 3, 5, 0], 40
    raw = _raw(seed, ids, width)
    for row, account in zip(raw, ids, strict=True):
        alone = np.random.Philox(
            key=np.array([account, seed], dtype=np.uint64), counter=np.zeros(4, dtype=np.uint64)
        )
        np.testing.assert_array_equal(row, alone.random_raw(width))


@pytest.mark.parametrize("estimator", ["is", "plain"])
def test_any_block_size_gives_every_result_unchanged(
    monkeypatch: pytest.MonkeyPatch, estimator: str
) -> None:
    rng = np.random.default_rng(5)
    n, paths = 10, 100
    ids = rng.integers(1, 10**9, n)
    loss = rng.integers(0, 10**8, n)
    scenarios = [
        KernelInputs(ids, special.ndtri(rng.uniform(0.01, 0.4, n)), rng.uniform(0.02, 0.3, n), loss)
        for _ in range(3)
    ]
    design = path_design(4, paths, estimator)

    def run() -> list[kmod.KernelResult]:
        return get_backend().simulate(scenarios, seed=4, mus=[0.0, -0.5, -1.0], design=design)

    whole = run()
    monkeypatch.setattr(kmod, "BLOCK_ELEMENTS", 3 * padded_width(paths))  # 3 + 3 + 3 + 1 loans
    blocks = run()
    for a, b in zip(whole, blocks, strict=True):
        for field in ("loan_defaults", "loan_weighted", "path_loss_cents", "path_defaults"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        np.testing.assert_array_equal(a.loan_weighted_sq, b.loan_weighted_sq)
    assert sum(int(r.path_defaults.sum()) for r in whole) > 0  # the test sees defaults
