"""Counter-based random streams keyed by what they stand for, never by position.

Every draw comes from NumPy's Philox (4x64, 10 rounds). A stream is fixed by a
128-bit key and the two high words of the 256-bit counter; the draws advance
the two low words. The layout:

=============  ============================  ==============================
stream         key (k0, k1)                  counter high words (c2, c3)
=============  ============================  ==============================
idiosyncratic  (AccountID, seed)             (scenario code, 0)
systematic     (0, seed)                     (scenario code, 1)
=============  ============================  ==============================

The scenario code is the shock in basis points as a 64-bit two's complement
word, so adding or removing a scenario leaves every other scenario's draws
unchanged. Path ``p`` takes the ``p``-th normal of its stream, so the draws of
the first ``S`` paths do not depend on ``S``, on which loans share a batch, or
on where a batch runs: results are bit-identical for any batching.

Normals come from uniforms by the Box-Muller transform in float32 (pair ``j``
of uniforms gives paths ``2j`` (cosine) and ``2j+1`` (sine)); the vectorised
float32 transcendental functions make this cheaper than NumPy's ziggurat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

_MASK64 = (1 << 64) - 1
IDIOSYNCRATIC = 0
SYSTEMATIC = 1
#: Rows of uniforms are padded to a multiple of this many values, so every
#: element passes through the same SIMD lane position whatever the batch.
ROW_ALIGN = 32
_TWO_PI = np.float32(2.0 * np.pi)


def scenario_code(shock_bp: int) -> int:
    """The counter word naming a scenario: its shock as 64-bit two's complement."""
    return shock_bp & _MASK64


def validate_seed(seed: int) -> int:
    """A seed is an integer in [0, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MASK64:
        raise ValueError(f"seed must be an integer from 0 to 2**64-1, got {seed!r}")
    return seed


def padded_width(paths: int) -> int:
    """Row width (uniforms drawn per stream) for ``paths`` paths."""
    return -(-paths // ROW_ALIGN) * ROW_ALIGN


class StreamFactory:
    """Positions one reusable Philox generator at the start of any keyed stream.

    Re-keying an existing generator through its ``state`` is several times
    cheaper than building a new one per stream, which matters with one stream
    per loan and scenario.
    """

    def __init__(self, seed: int) -> None:
        self.seed = validate_seed(seed)
        self._bitgen = np.random.Philox(0)
        self._gen = np.random.Generator(self._bitgen)
        self._state: dict[str, Any] = self._bitgen.state

    def _position(self, k0: int, c2: int, c3: int) -> np.random.Generator:
        self._state["state"] = {
            "counter": np.array([0, 0, c2, c3], dtype=np.uint64),
            "key": np.array([k0, self.seed], dtype=np.uint64),
        }
        self._state["buffer_pos"] = 4
        self._state["has_uint32"] = 0
        self._state["uinteger"] = 0
        self._bitgen.state = self._state
        return self._gen

    def idiosyncratic_uniforms(
        self, shock_bp: int, account_ids: NDArray[np.uint64], out: NDArray[np.float32]
    ) -> None:
        """Fill row ``i`` of ``out`` with the uniforms of loan ``account_ids[i]``."""
        code = scenario_code(shock_bp)
        for i, account in enumerate(account_ids.tolist()):
            gen = self._position(int(account), code, IDIOSYNCRATIC)
            gen.random(dtype=np.float32, out=out[i])

    def systematic_normals(self, shock_bp: int, paths: int) -> NDArray[np.float32]:
        """The standard normal factor ``Z0`` of paths ``0..paths-1`` (before the shift)."""
        u = np.empty((1, padded_width(paths)), dtype=np.float32)
        gen = self._position(0, scenario_code(shock_bp), SYSTEMATIC)
        gen.random(dtype=np.float32, out=u[0])
        even, odd = box_muller(u)
        z = np.empty(u.shape[1], dtype=np.float32)
        z[0::2] = even[0]
        z[1::2] = odd[0]
        return z[:paths]


def box_muller(
    u: NDArray[np.float32],
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Normals from a 2-D array of uniforms in [0, 1) with an even row width.

    Returns ``(even, odd)``: the normals of the even and the odd paths, each of
    half the width. ``1 - u`` keeps the logarithm finite; with 24-bit uniforms
    the largest normal is about 5.8 (a tail probability below 1e-8).
    """
    u1 = np.ascontiguousarray(u[:, 0::2])
    u2 = np.ascontiguousarray(u[:, 1::2])
    np.subtract(np.float32(1.0), u1, out=u1)
    np.log(u1, out=u1)
    np.multiply(u1, np.float32(-2.0), out=u1)
    np.sqrt(u1, out=u1)
    np.multiply(u2, _TWO_PI, out=u2)
    even = np.cos(u2)
    np.multiply(even, u1, out=even)
    np.sin(u2, out=u2)
    np.multiply(u2, u1, out=u2)
    return even, u2
