"""The value checks of a loan-tape import: what the simulation would reject, row by row.

Each check looks at one column (or a few) of a :class:`Batch` at once and yields
``(row, message)`` for every value a loan parser would refuse: empty, not a number, out
of the range :data:`montemap.credit.loans.RANGES` gives, not a date a calendar has, not
a ZIP code, none of a choice's options, a personal loan without income. The checks run
column by column; :func:`first_issues` puts what they find back in the tape's row
order, so ``import --strict`` names the first problem a reader would meet.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from montemap.credit.columns import OPTIONAL_COLUMNS, OVERRIDE_COLUMNS, REQUIRED_COLUMNS
from montemap.credit.loans import RANGES, quoted

NUMERIC_COLUMNS = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS + OVERRIDE_COLUMNS) - {
    "ZipCode",
    "OriginationDate",
    "LoanType",
    "RateType",
}
_NUMBER_RE = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_US_DATE_RE = r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$"

#: One problem: the row's index in its batch, and the message naming where and what.
Issue = tuple[int, str]


@dataclass
class Batch:
    """Normalised string columns of consecutive tape rows, and where each row came from."""

    columns: dict[str, pa.Array]
    where: Callable[[int], str]


def first_issues(batch: Batch, limit: int) -> tuple[list[str], int]:
    """The first ``limit`` problems of ``batch`` in row order (a row's own problems in the
    order the checks find them), and how many it has in all."""
    count = 0

    def counted(issues: Iterable[Issue]) -> Iterator[Issue]:
        nonlocal count
        for issue in issues:
            count += 1
            yield issue

    issues = counted(value_issues(batch))
    first = heapq.nsmallest(limit, issues, key=lambda issue: issue[0]) if limit > 0 else []
    for _ in issues:  # count the rest (none are left once nsmallest has seen them all)
        pass
    return [message for _, message in first], count


def value_issues(batch: Batch) -> Iterator[Issue]:
    """Describe every value a loan parser would reject: empty, not a number, out of range,
    not a date."""
    for name, arr in batch.columns.items():
        empty = pc.equal(arr, "")
        if name in REQUIRED_COLUMNS:
            bad = empty
            what = "is empty"
            for i in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
                yield int(i), f"{batch.where(int(i))}: {name} {what}"
        if name in NUMERIC_COLUMNS:
            bad = pc.and_(pc.invert(empty), pc.invert(pc.match_substring_regex(arr, _NUMBER_RE)))
        elif name == "OriginationDate":
            bad = pc.and_(pc.invert(empty), pc.invert(pc.match_substring_regex(arr, _US_DATE_RE)))
        else:
            continue
        kind = "a number" if name in NUMERIC_COLUMNS else "a date (MM/DD/YYYY)"
        for i in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
            yield (
                int(i),
                f"{batch.where(int(i))}: {name} {quoted(arr[int(i)].as_py())} is not {kind}",
            )
        if name in RANGES:
            yield from _range_issues(batch, name, arr)
    yield from _account_issues(batch)
    yield from _income_issues(batch)
    yield from _text_issues(batch)
    yield from _date_issues(batch)


def _numbers(arr: pa.Array) -> np.ndarray:
    """The values that are plain numbers, as floats (NaN elsewhere)."""
    ok = pc.match_substring_regex(arr, _NUMBER_RE)
    text = pc.if_else(ok, arr, pa.scalar("nan"))
    return np.asarray(pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False))


def _range_issues(batch: Batch, name: str, arr: pa.Array) -> Iterator[Issue]:
    """Numbers outside the range :func:`montemap.credit.loans.parse_fields` accepts."""
    lo, hi, lo_open, hi_open = RANGES[name]
    values = _numbers(arr)
    with np.errstate(invalid="ignore"):
        bad = (
            (values < lo) | (values > hi) | (lo_open & (values == lo)) | (hi_open & (values == hi))
        )
        if name == "LoanTerm":
            bad |= np.isfinite(values) & (values != np.floor(values))
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    for i in np.flatnonzero(bad):
        yield (
            int(i),
            (
                f"{batch.where(int(i))}: {name} "
                f"{quoted(arr[int(i)].as_py(), quote=False)} is outside "
                f"{left}{lo:g}, {hi:g}{right}" + (" or not whole" if name == "LoanTerm" else "")
            ),
        )


def _account_issues(batch: Batch) -> Iterator[Issue]:
    """AccountIDs that are numbers but not whole ones (one that is no number at all has
    its warning from the numeric columns' check already)."""
    ids = batch.columns["AccountID"]
    number = pc.match_substring_regex(ids, _NUMBER_RE)
    bad = pc.and_(number, pc.invert(pc.match_substring_regex(ids, r"^[0-9]{1,19}$")))
    for i in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
        yield (
            int(i),
            f"{batch.where(int(i))}: AccountID {quoted(ids[int(i)].as_py())} is not a whole number",
        )


#: The text columns' rules in :func:`montemap.credit.loans.parse_fields`.
_ZIP_RE = r"^[0-9]{1,5}(-[0-9]{4})?$"
_CHOICES = {"LoanType": ("personal", "commercial"), "RateType": ("variable", "fixed")}


def _text_issues(batch: Batch) -> Iterator[Issue]:
    """ZIP codes that are not 1-5 digits (or ZIP+4), and LoanType/RateType values that
    are none of their options (an empty one takes its default)."""
    rules: list[tuple[str, Any, Any, str]] = [
        ("ZipCode", pc.match_substring_regex, _ZIP_RE, "a 5-digit ZIP code")
    ]
    for name, options in _CHOICES.items():
        rules.append((name, _one_of, options, f"one of {', '.join(options)}"))
    for name, test, arg, kind in rules:
        arr = batch.columns.get(name)
        if arr is None:
            continue
        bad = pc.and_(pc.invert(pc.equal(arr, "")), pc.invert(test(arr, arg)))
        for i in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
            yield (
                int(i),
                f"{batch.where(int(i))}: {name} {quoted(arr[int(i)].as_py())} is not {kind}",
            )


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _date_issues(batch: Batch) -> Iterator[Issue]:
    """MM/DD/YYYY dates no calendar has (02/30/2020, 13/01/2020, year 0), as
    :func:`montemap.credit.loans.parse_date` refuses them."""
    arr = batch.columns["OriginationDate"]
    shaped = pc.match_substring_regex(arr, _US_DATE_RE)
    parts = pc.extract_regex(
        pc.if_else(shaped, arr, pa.scalar("01/01/2000")),
        r"^(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2})/(?P<y>[0-9]{4})$",
    )
    m, d, y = (np.asarray(pc.cast(parts.field(k), pa.int64()).to_numpy()) for k in "mdy")
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    days = _DAYS_IN_MONTH[np.clip(m, 0, 12)] + (leap & (m == 2))
    wrong = (m < 1) | (m > 12) | (d < 1) | (d > days) | (y < 1)
    bad = np.asarray(shaped.to_numpy(zero_copy_only=False)) & wrong
    for i in np.flatnonzero(bad):
        yield (
            int(i),
            f"{batch.where(int(i))}: OriginationDate {quoted(arr[int(i)].as_py())} "
            "is not a valid date",
        )


def _one_of(arr: pa.Array, options: tuple[str, ...]) -> pa.Array:
    return pc.is_in(pc.utf8_lower(arr), value_set=pa.array(options))


def _income_issues(batch: Batch) -> Iterator[Issue]:
    """Personal loans (LoanType personal or empty) need a positive GrossIncome."""
    income = _numbers(batch.columns["GrossIncome"])
    kind = batch.columns.get("LoanType")
    personal = (
        np.ones(income.shape[0], dtype=bool)
        if kind is None
        else ~np.asarray(pc.equal(pc.utf8_lower(kind), "commercial").to_numpy(zero_copy_only=False))
    )
    for i in np.flatnonzero(personal & (income == 0)):
        yield int(i), f"{batch.where(int(i))}: GrossIncome must be positive for a personal loan"
