"""The importance-sampling weights: unbiased whatever the number of paths (an odd
``--paths`` has one more plain path than shifted ones), unchanged for an even one."""

from __future__ import annotations

import numpy as np
import pytest

from montemap.credit.sampling import IS_SHIFT, path_design


@pytest.mark.parametrize("paths", [1, 3, 11])
def test_weights_average_one_for_an_odd_number_of_paths(paths: int) -> None:
    """E[sum w / S] = 1 is what makes every weighted figure (EL, default frequencies)
    unbiased; with the half-and-half weights 11 paths averaged 1.07 and 1 path 1.8."""
    means = np.array([path_design(seed, paths, "is").weight.mean() for seed in range(600)])
    se = means.std(ddof=1) / np.sqrt(means.shape[0])
    assert abs(means.mean() - 1.0) < 4 * se + 1e-12
    assert float(path_design(0, paths, "is").weight.max()) <= 2.0


def test_one_path_is_a_plain_path() -> None:
    design = path_design(5, 1, "is")
    assert design.weight.tolist() == [1.0] and design.shift.tolist() == [0.0]


def test_even_paths_keep_the_half_and_half_weights() -> None:
    design = path_design(9, 1000, "is")
    y = design.z0.astype(np.float64) + design.shift.astype(np.float64)
    w = 1.0 / (0.5 + 0.5 * np.exp(IS_SHIFT * y - 0.5 * IS_SHIFT * IS_SHIFT))
    k = design.scale_bits
    assert np.array_equal(design.weight, np.rint(w * float(1 << k)) / float(1 << k))
