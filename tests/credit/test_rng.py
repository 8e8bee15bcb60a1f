"""Keyed Philox streams: draws depend on (seed, AccountID, path) only (common across scenarios)."""

from __future__ import annotations

import numpy as np
import pytest

from montemap.credit.rng import StreamFactory, box_muller, padded_width, validate_seed


def _uniforms(seed: int, ids: list[int], width: int = 64) -> np.ndarray:
    out = np.empty((len(ids), width), dtype=np.uint64)
    StreamFactory(seed).idiosyncratic_raw(np.array(ids, dtype=np.uint64), out)
    return out


def test_a_loans_draws_do_not_depend_on_its_neighbours() -> None:
    alone = _uniforms(7, [42])
    mixed = _uniforms(7, [5, 42, 9])
    np.testing.assert_array_equal(alone[0], mixed[1])
    assert not np.array_equal(mixed[0], mixed[1])


def test_streams_differ_by_seed_and_account() -> None:
    base = _uniforms(7, [42])[0]
    for other in (_uniforms(8, [42])[0], _uniforms(7, [43])[0]):
        assert not np.array_equal(base, other)
    # the systematic stream is not any loan's stream (AccountID 0 included)
    z_raw = StreamFactory(7).systematic_normals(64)
    eps = box_muller(_uniforms(7, [0], width=32))[0][0]
    assert not np.array_equal(z_raw[0::2], eps)


def test_more_paths_extend_the_stream() -> None:
    short = _uniforms(1, [3], width=32)
    long = _uniforms(1, [3], width=96)
    np.testing.assert_array_equal(short[0], long[0, :32])
    z_short = StreamFactory(1).systematic_normals(10)
    z_long = StreamFactory(1).systematic_normals(1000)
    np.testing.assert_array_equal(z_short, z_long[:10])


def test_systematic_normals_are_standard_normal() -> None:
    z = StreamFactory(3).systematic_normals(200_000).astype(np.float64)
    assert abs(z.mean()) < 5 * 1 / np.sqrt(z.size)
    assert z.std() == pytest.approx(1.0, abs=0.01)
    assert np.mean(z < -2.326) == pytest.approx(0.01, abs=0.0015)


def test_box_muller_pairs() -> None:
    half, quarter = 1 << 31, 1 << 30  # top 24 bits: 0.5 and 0.25
    raw = np.array([[half, (quarter << 32) | half]], dtype=np.uint64)
    even, odd = box_muller(raw)
    r = np.sqrt(-2 * np.log(0.5))
    np.testing.assert_allclose(even[0], [r, 0.0], atol=1e-6)
    np.testing.assert_allclose(odd[0], [0.0, r], atol=1e-6)
    extreme = box_muller(np.array([[0xFFFFFFFF]], dtype=np.uint64))[0]
    assert 5.7 < extreme[0, 0] < 5.8  # the largest normal: u1 = 1 - 2**-24


def test_the_stream_layout_is_numpys_philox() -> None:
    """Documented keying: key (AccountID, seed), counter (0, 0, 0, kind)."""

    def philox(key: list[int], counter: list[int]) -> np.random.Philox:
        return np.random.Philox(
            key=np.array(key, dtype=np.uint64), counter=np.array(counter, dtype=np.uint64)
        )

    expected = philox([42, 7], [0, 0, 0, 0]).random_raw(3)
    np.testing.assert_array_equal(_uniforms(7, [42], width=3)[0], expected)
    raw = philox([0, 7], [0, 0, 0, 1]).random_raw(16)
    even, odd = box_muller(raw[None, :])
    z = StreamFactory(7).systematic_normals(32)
    np.testing.assert_array_equal(z[0::2], even[0])
    np.testing.assert_array_equal(z[1::2], odd[0])


def test_seed_and_width_validation() -> None:
    assert validate_seed(2**64 - 1) == 2**64 - 1
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError, match="seed must be an integer"):
            validate_seed(bad)  # type: ignore[arg-type]
    assert padded_width(1) == 32 and padded_width(33) == 64
