"""Data-quality totals joined from two parts equal those added batch by batch in order
(every field: a field added to ``QualityTotals`` but not joined fails here)."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from montemap.credit.loans import OPTIONAL
from montemap.credit.quality import MAX_EXAMPLES, QualityTotals
from montemap.credit.reduce_scan_part import merge_quality

REASONS = ("Rate: not a number", "LoanTerm: missing", "data row has 3 fields", "ZipCode: bad")


def _meta(rnd: random.Random, batch: int) -> dict[str, Any]:
    """A ``batch.json`` with every field the totals read, varied: example keys repeat
    across batches (ties keep the batches' order)."""
    examples = [
        {"key": f"k{rnd.randrange(40):03d}", "batch": batch, "i": i, "cause": "rate"}
        for i in range(rnd.randrange(4))
    ]
    return {
        "objects": rnd.randrange(50),
        "matured": rnd.randrange(3),
        "payment_mismatch": len(examples) + rnd.randrange(3),
        "defaults_applied": {n: rnd.randrange(5) for n in OPTIONAL if rnd.random() < 0.6},
        "overrides": {n: rnd.randrange(2) for n in ("PD", "LGD", "Rho") if rnd.random() < 0.5},
        "payment_mismatch_causes": {
            c: rnd.randrange(1, 4) for c in ("rate", "term", "fee")[: rnd.randrange(4)]
        },
        "payment_mismatch_examples": examples,
        "matured_loans": [{"key": f"m{batch}-{i}"} for i in range(rnd.randrange(3))],
        "rejects": [
            {"key": f"r{batch}-{i}", "reason": rnd.choice(REASONS)} for i in range(rnd.randrange(4))
        ],
    }


def _added(metas: list[dict[str, Any]]) -> QualityTotals:
    totals = QualityTotals(OPTIONAL)
    for meta in metas:
        totals.add(meta)
    return totals


@pytest.mark.parametrize("seed", range(4))
def test_joined_parts_equal_the_totals_added_in_order(seed: int) -> None:
    rnd = random.Random(seed)
    metas = [_meta(rnd, b) for b in range(30)]
    whole = _added(metas)
    assert len(whole.examples) == MAX_EXAMPLES  # the cut matters
    for cut in range(len(metas) + 1):
        joined = merge_quality(_added(metas[:cut]), _added(metas[cut:]))
        for f in dataclasses.fields(QualityTotals):
            assert getattr(joined, f.name) == getattr(whole, f.name), (cut, f.name)
        assert joined.summary_fields() == whole.summary_fields()


def test_joined_one_batch_at_a_time_from_the_end() -> None:
    """As the helper joins them: each batch's totals before those of the batches after it."""
    rnd = random.Random(9)
    metas = [_meta(rnd, b) for b in range(25)]
    joined = QualityTotals(OPTIONAL)
    for meta in reversed(metas):
        joined = merge_quality(_added([meta]), joined)
    assert joined == _added(metas)
