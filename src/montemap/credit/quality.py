"""Data quality of a run: payment mismatches with their likely cause, rejects grouped by
reason, matured loans, duplicate AccountIDs, and the short block the terminal prints.

The same rules serve ``montemap simulate``, the workflow's reduction and ``montemap
run``: the figures are computed per batch (``batch.json``) and summed by the reduction
into ``summary.json``; :func:`quality_lines` turns a summary into the terminal block.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from montemap.errors import MontemapError

if TYPE_CHECKING:  # NumPy and the model load on first use: quality_lines needs neither
    import numpy as np
    from numpy.typing import NDArray

#: Relative difference from the annuity above which a Payment is a mismatch.
MISMATCH_TOLERANCE = 0.01
#: Mismatch examples kept per batch and in ``summary.json``.
MAX_EXAMPLES = 20
#: Duplicate AccountIDs named in an error message.
MAX_LISTED = 5

CAUSE_FRACTION = "rate looks like a fraction"
CAUSE_ANNUAL = "payment looks annual (12x the monthly annuity)"
CAUSE_INTEREST_ONLY = "payment looks interest-only"
CAUSE_OTHER = "payment differs from the annuity"

_VALUE = re.compile(r"(?<!column )'[^']*'|-?\d[\d,]*(\.\d+)?([eE][-+]?\d+)?")


class DuplicateAccountError(MontemapError):
    """Two or more loans carry the same AccountID (they would share random streams)."""


def _close(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.bool_]:
    import numpy as np

    return np.asarray(np.abs(a - b) <= MISMATCH_TOLERANCE * np.abs(b), dtype=np.bool_)


def mismatch_causes(
    payment: NDArray[np.float64],
    amount: NDArray[np.float64],
    rate: NDArray[np.float64],
    term: NDArray[np.float64],
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """Which records' Payment differs from the annuity by more than 1%, and the likely
    cause of each (a label from the ``CAUSE_*`` constants; ``None`` where it matches)."""
    import numpy as np

    from montemap.credit.model import annuity_payment as annuity

    scheduled = annuity(amount, rate, term)
    mismatch = np.asarray(np.abs(payment - scheduled) > MISMATCH_TOLERANCE * scheduled)
    causes = np.full(payment.shape[0], None, dtype=object)
    if not mismatch.any():  # the usual batch: every cause below is masked by it
        return mismatch, causes
    causes[mismatch] = CAUSE_OTHER
    interest_only = mismatch & _close(payment, amount * rate / 1200.0) & (rate > 0)
    causes[interest_only] = CAUSE_INTEREST_ONLY
    annual = mismatch & _close(payment, 12.0 * scheduled)
    causes[annual] = CAUSE_ANNUAL
    fraction = (
        mismatch & (rate > 0) & (rate < 1.0) & _close(payment, annuity(amount, rate * 100, term))
    )
    causes[fraction] = CAUSE_FRACTION
    return mismatch, causes


def mismatch_example(
    key: str, account: int, payment: float, scheduled: float, rate: float, cause: str
) -> dict[str, Any]:
    """One mismatch as ``summary.json`` lists it, with a readable hint."""
    hint = cause
    if cause == CAUSE_FRACTION:
        hint = f"{cause} ({rate:g} → {rate * 100:g}%?)"
    return {
        "key": key,
        "AccountID": account,
        "payment": round(payment, 2),
        "annuity": round(scheduled, 2),
        "cause": hint,
    }


def reason_group(reason: str) -> str:
    """A reject reason with its values elided, so like reasons count together:
    ``column 'LoanAmount': value -5 is negative`` -> ``column 'LoanAmount': value … is negative``;
    a column's name stays (``missing column 'GrossIncome'``, ``column 'Rate' is empty``)."""
    head, sep, rest = reason.partition(": ")
    if sep and head.startswith("column '"):
        return f"{head}: {_VALUE.sub('…', rest)}"
    return _VALUE.sub("…", reason)


def rejects_by_reason(reasons: Iterable[str]) -> dict[str, int]:
    """Reject counts per reason group, most frequent first (ties by name)."""
    counts = Counter(reason_group(r) for r in reasons)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def check_unique_accounts(accounts: Sequence[int] | NDArray[np.int64], keys: Sequence[str]) -> None:
    """Raise :class:`DuplicateAccountError` naming the first few repeated AccountIDs."""
    import numpy as np

    ids = np.asarray(accounts, dtype=np.int64)
    if ids.shape[0] < 2:
        return
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if not repeated.shape[0]:
        return
    values = sorted(set(sorted_ids[repeated].tolist()))
    keys_of = {
        value: [keys[int(i)] for i in order[sorted_ids == value][:2]]
        for value in values[:MAX_LISTED]
    }
    raise duplicate_accounts_error(values, keys_of)


def duplicate_accounts_error(
    values: Sequence[int], keys: Mapping[int, Sequence[str]]
) -> DuplicateAccountError:
    """The error naming the first repeated AccountIDs (``values``, sorted) with the first
    two keys of each in ``keys`` (given for at least the first ``MAX_LISTED`` values)."""
    listed = []
    for value in values[:MAX_LISTED]:
        where = list(keys[value])[:2]
        listed.append(f"{value} ({' and '.join(where)})")
    more = f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else ""
    return DuplicateAccountError(
        f"{len(values)} AccountID{'s appear' if len(values) > 1 else ' appears'} more than once: "
        f"{', '.join(listed)}{more}; every loan needs its own AccountID"
    )


def no_loans_reason(rejected: Mapping[str, int], matured: int, objects: int) -> str:
    """The one-line reason a run with no accepted loans fails."""
    parts = [f"none of the {objects:,} records could be simulated"]
    total = sum(rejected.values())
    if total:
        top, n = next(iter(rejected.items()))
        parts.append(f"{total:,} rejected (most often: {top}, {n:,}x; see rejects.csv)")
    if matured:
        parts.append(f"{matured:,} matured (see matured.csv)")
    return "; ".join(parts)


@dataclass
class QualityTotals:
    """The data-quality figures of a run, summed over its batches' ``batch.json``."""

    optional: tuple[str, ...]
    objects: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, int] = field(default_factory=lambda: {"PD": 0, "LGD": 0, "Rho": 0})
    mismatch: int = 0
    causes: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    matured_count: int = 0
    matured_listed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, meta: Mapping[str, Any]) -> None:
        """Add one batch's figures (bounded state: counters and the first examples)."""
        self.objects += int(meta["objects"])
        self.matured_count += int(meta["matured"])
        self.mismatch += int(meta["payment_mismatch"])
        for name in self.optional:
            self.applied[name] = self.applied.get(name, 0) + int(
                meta["defaults_applied"].get(name, 0)
            )
        for name in self.overrides:
            self.overrides[name] += int(meta["overrides"].get(name, 0))
        for cause, n in meta.get("payment_mismatch_causes", {}).items():
            self.causes[cause] = self.causes.get(cause, 0) + int(n)
        examples = self.examples + list(meta.get("payment_mismatch_examples", []))
        self.examples = sorted(examples, key=lambda e: str(e["key"]))[:MAX_EXAMPLES]
        self.matured_listed += len(meta.get("matured_loans", []))
        self.reasons.update(reason_group(r["reason"]) for r in meta["rejects"])

    def by_reason(self) -> dict[str, int]:
        return dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary_fields(self) -> dict[str, Any]:
        """The ``summary.json`` entries (``rejected`` is counted by the caller)."""
        return {
            "defaults_applied": {name: self.applied.get(name, 0) for name in self.optional},
            "overrides": self.overrides,
            "payment_mismatch": self.mismatch,
            "payment_mismatch_causes": dict(
                sorted(self.causes.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            "payment_mismatch_examples": self.examples,
            "rejects_by_reason": self.by_reason(),
        }


# --------------------------------------------------------------------------- terminal


def quality_lines(summary: Mapping[str, Any]) -> list[str]:
    """The data-quality block printed by ``montemap simulate`` and ``montemap run``."""
    lines = ["data quality:"]
    applied = {k: v for k, v in (summary.get("defaults_applied") or {}).items() if v}
    lines.append(
        "  defaults applied: "
        + (", ".join(f"{k} {v:,}" for k, v in applied.items()) if applied else "none")
    )
    overrides = {k: v for k, v in (summary.get("overrides") or {}).items() if v}
    lines.append(
        "  own estimates (overrides): "
        + (", ".join(f"{k} {v:,}" for k, v in overrides.items()) if overrides else "none")
    )
    mismatch = int(summary.get("payment_mismatch") or 0)
    causes = summary.get("payment_mismatch_causes") or {}
    line = f"  payment mismatches: {mismatch:,}"
    if causes:
        line += " (" + "; ".join(f"{k}: {v:,}" for k, v in causes.items()) + ")"
    lines.append(line)
    for ex in (summary.get("payment_mismatch_examples") or [])[:3]:
        lines.append(
            f"    {ex['key']}: payment {ex['payment']:,.2f} vs annuity {ex['annuity']:,.2f}: "
            f"{ex['cause']}"
        )
    reasons = summary.get("rejects_by_reason") or {}
    lines.append(
        f"  rejected: {int(summary.get('rejected') or 0):,}" + (" (rejects.csv)" if reasons else "")
    )
    for reason, n in list(reasons.items())[:5]:
        lines.append(f"    {n:>7,}  {reason}")
    if len(reasons) > 5:
        lines.append(f"    ... and {len(reasons) - 5} more reasons")
    matured = int(summary.get("matured") or 0)
    lines.append(f"  matured (left out): {matured:,}" + (" (matured.csv)" if matured else ""))
    return lines
