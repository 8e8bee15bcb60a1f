"""What the first pass's helper process hands back: its batches' figures, to be joined
to this process's exactly as if one process had read every batch in order.

The helper reads the last batches (positions ``first`` to the end); its sums are
integers (their order does not matter), its per-batch figures are by position, and its
data-quality totals are joined by :func:`merge_quality`, which gives what adding every
batch's ``batch.json`` in order gives (the examples kept are the same, ties included).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from montemap.credit.quality import MAX_EXAMPLES, QualityTotals

if TYPE_CHECKING:
    from montemap.credit.reduce_scan import Scan


@dataclass
class HelperPart:
    """The figures of the batches ``first`` to the end, as the helper read them."""

    first: int
    loss: NDArray[np.int64]
    defaults: NDArray[np.int64]
    quality: QualityTotals
    rejected: int
    rows: NDArray[np.int64]  # one row per batch from ``first``: rows per scenario
    distinct: NDArray[np.int64]
    low: pa.Array  # the key ranges (binary; null: none), one per batch from ``first``
    high: pa.Array

    @classmethod
    def of(
        cls,
        scan: Scan,
        first: int,
        quality: QualityTotals,
        lows: list[bytes | None],
        highs: list[bytes | None],
    ) -> HelperPart:
        """The helper's part from its own ``scan`` of the batches ``first`` to the end
        (``quality``, ``lows`` and ``highs``: theirs, in the batches' order)."""
        return cls(
            first,
            scan.loss,
            scan.defaults,
            quality,
            scan.rejected,
            scan.batches.rows[first:].copy(),
            scan.batches.distinct[first:].copy(),
            pa.array(lows, pa.binary()),
            pa.array(highs, pa.binary()),
        )

    def join(self, scan: Scan) -> None:
        """Add this part to ``scan``, which holds every batch before ``first``."""
        scan.loss += self.loss
        scan.defaults += self.defaults
        scan.quality = merge_quality(scan.quality, self.quality)
        scan.rejected += self.rejected
        scan.batches.rows[self.first :] = self.rows
        scan.batches.distinct[self.first :] = self.distinct
        scan.batches.ranged_many(self.low, self.high)
        scan.helped = len(self.distinct)


def merge_quality(first: QualityTotals, second: QualityTotals) -> QualityTotals:
    """The totals of ``first``'s batches followed by ``second``'s (as
    :meth:`QualityTotals.add` of each batch in that order gives them)."""
    out = QualityTotals(first.optional)
    out.objects = first.objects + second.objects
    out.applied = _summed(first.applied, second.applied)
    out.overrides = _summed(first.overrides, second.overrides)
    out.mismatch = first.mismatch + second.mismatch
    out.causes = _summed(first.causes, second.causes)
    # a stable sort of first's then second's: ties keep the batches' order
    examples = first.examples + second.examples
    out.examples = sorted(examples, key=lambda e: str(e["key"]))[:MAX_EXAMPLES]
    out.matured_count = first.matured_count + second.matured_count
    out.matured_listed = first.matured_listed + second.matured_listed
    out.reasons = Counter(first.reasons)
    out.reasons.update(second.reasons)
    return out


def _summed(first: dict[str, int], second: dict[str, int]) -> dict[str, int]:
    out = dict(first)
    for name, n in second.items():
        out[name] = out.get(name, 0) + n
    return out
