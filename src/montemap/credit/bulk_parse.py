"""Parse the loan objects of a batch in bulk: one vectorised CSV parse per header.

The objects that look plain (one header line shared with other objects, one data line,
printable ASCII without quotes, the header's field count) have their data lines joined
and parsed in one call (Arrow's CSV reader, every field a string); their values are
checked with array operations against the rules of
:func:`montemap.credit.loans.parse_fields`. A row passes only when every check proves the
per-row parser would accept it with the same values; every other object (a reject, an
unusual layout or value) goes to :func:`~montemap.credit.loans.parse_object`, so reject
reasons and odd-but-valid values are exactly the per-row parser's.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from montemap.credit.bulk_fields import (
    all_digits,
    fixed_dates,
    lengths,
    plain_decimals,
    shared_header,
    split_columns,
    split_plain,
)
from montemap.credit.loans import (
    _CANONICAL,
    MAX_OBJECT_BYTES,
    OPTIONAL,
    RANGES,
    REQUIRED,
    Loan,
    LoanArrays,
    Reject,
    parse_object,
)

_NUMBER = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_US_DATE = r"^(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2})/(?P<y>[0-9]{4})$"
_ISO_DATE = r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})$"
_ZIP = r"^(?P<z>[0-9]{1,5})(?:-[0-9]{4})?$"
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@dataclass
class ParsedObjects:
    """The loans of a batch as columns, the rejects (item order), and the counts."""

    arrays: LoanArrays
    rejects: list[Reject]
    defaults_applied: dict[str, int]
    overrides: dict[str, int]


@dataclass(frozen=True)
class _Header:
    width: int
    columns: dict[str, int]  # canonical name -> field index, the numeric columns first
    numeric: int  # how many of the columns are numeric (RANGES)


@functools.lru_cache(maxsize=64)
def _header(line: bytes) -> _Header | None:
    """The layout a plain header line gives, or None (the per-row parser decides)."""
    if not line.endswith(b"\n") or not line[:-1].isascii() or b'"' in line:
        return None
    if any(b < 0x20 or b > 0x7E for b in line[:-1]):
        return None
    raw = [h.strip() for h in line[:-1].decode("ascii").split(",")]
    if len(set(h.lower() for h in raw)) != len(raw):
        return None
    columns = {_CANONICAL[h.lower()]: i for i, h in enumerate(raw) if h.lower() in _CANONICAL}
    if any(name not in columns for name in REQUIRED):
        return None
    # the numeric columns first, in RANGES' order: cut together, they are one array
    numeric = {name: columns[name] for name in RANGES if name in columns}
    return _Header(len(raw), numeric | columns, len(numeric))


def parse_objects(
    keys: Sequence[str], bodies: Sequence[bytes | Reject], as_of: dt.date | None
) -> ParsedObjects:
    """Parse every object (``bodies[i]`` is item ``keys[i]``'s bytes or its read reject)."""
    slow: list[int] = []
    rejects: list[tuple[int, Reject]] = []
    shared = shared_header(bodies, MAX_OBJECT_BYTES)  # the usual batch: no loop per object
    groups = (
        {shared[0]: (list(range(len(bodies))), shared[1])}
        if shared is not None
        else _groups(bodies, slow, rejects)
    )
    parts: list[tuple[NDArray[np.int64], LoanArrays, NDArray[np.bool_]]] = []
    for line, (idx, joined) in groups.items():
        header = _header(line)
        if header is None:
            slow.extend(idx)
            continue
        every = shared is not None  # the group is every object, in item order
        chosen = list(keys) if every else [keys[i] for i in idx]
        got, rest = _parse_group(header, joined, len(idx), chosen, as_of)
        index = np.arange(len(idx), dtype=np.int64) if every else np.array(idx, dtype=np.int64)
        if got is not None:
            arrays, defaulted, ok = got
            parts.append((index[ok], arrays, defaulted))
        slow.extend(index[rest].tolist())
    return _merge(parts, sorted(slow), keys, bodies, rejects, as_of)


def _groups(
    bodies: Sequence[bytes | Reject], slow: list[int], rejects: list[tuple[int, Reject]]
) -> dict[bytes, tuple[list[int], bytes]]:
    """Per header line, the objects of one data line under it and their data lines joined
    (each ending in a newline); appends the read rejects and the other objects (for the
    per-row parser) to ``rejects`` and ``slow``."""
    rows: list[bytes] = [b""] * len(bodies)
    groups: dict[bytes, list[int]] = {}
    for i, body in enumerate(bodies):
        if isinstance(body, Reject):
            rejects.append((i, body))
            continue
        nl = body.find(b"\n")
        end = body.find(b"\n", nl + 1)
        if nl < 0 or len(body) > MAX_OBJECT_BYTES or end == nl + 1:
            slow.append(i)
        elif end == -1:
            rows[i] = body[nl + 1 :] + b"\n"
            groups.setdefault(body[: nl + 1], []).append(i)
        elif end == len(body) - 1:
            rows[i] = body[nl + 1 :]
            groups.setdefault(body[: nl + 1], []).append(i)
        else:
            slow.append(i)
    return {line: (idx, b"".join([rows[i] for i in idx])) for line, idx in groups.items()}


def _merge(
    parts: list[tuple[NDArray[np.int64], LoanArrays, NDArray[np.bool_]]],
    slow: list[int],
    keys: Sequence[str],
    bodies: Sequence[bytes | Reject],
    rejects: list[tuple[int, Reject]],
    as_of: dt.date | None,
) -> ParsedObjects:
    """Put the fast and the per-row parser's loans back in item order."""
    loans: list[Loan] = []
    loan_index: list[int] = []
    for i in slow:
        body = bodies[i]
        assert not isinstance(body, Reject)
        got, bad = parse_object(keys[i], body, as_of)
        loans.extend(got)
        loan_index.extend([i] * len(got))
        rejects.extend((i, r) for r in bad)
    defaulted = np.zeros(len(OPTIONAL), dtype=np.int64)
    for loan in loans:
        defaulted += [name in loan.defaulted for name in OPTIONAL]
    pieces = [LoanArrays.from_loans(loans)] if loans else []
    index = [np.array(loan_index, dtype=np.int64)] if loans else []
    for rows, arrays, flags in parts:
        pieces.append(arrays)
        index.append(rows)
        defaulted += flags.sum(axis=0)
    if not pieces:
        arrays = LoanArrays.from_loans([])
    elif len(pieces) == 1:  # one piece: its loans are in item order already
        arrays = pieces[0]
    else:
        arrays = concat_arrays(pieces)
        order = np.argsort(np.concatenate(index), kind="stable")
        if not np.array_equal(order, np.arange(order.shape[0])):
            arrays = arrays.take(order)
    rejects.sort(key=lambda p: p[0])
    overrides = {
        name: int(np.count_nonzero(~np.isnan(getattr(arrays, name.lower()))))
        for name in ("PD", "LGD", "Rho")
    }
    return ParsedObjects(
        arrays,
        [r for _, r in rejects],
        {name: int(c) for name, c in zip(OPTIONAL, defaulted, strict=True)},
        overrides,
    )


def concat_arrays(pieces: Sequence[LoanArrays]) -> LoanArrays:
    """The loans of every piece, in order."""
    if len(pieces) == 1:
        return pieces[0]
    return LoanArrays(
        **{
            name: np.concatenate([getattr(p, name) for p in pieces])
            for name in LoanArrays.__dataclass_fields__
        }
    )


# --------------------------------------------------------------------------- one header


def _plain_rows(buf: bytes, rows: int, width: int) -> NDArray[np.bool_]:
    """Rows of printable ASCII without quotes and with ``width`` fields."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    odd = np.flatnonzero((arr < 0x20) | (arr > 0x7E) | (arr == 0x22))
    ok = np.ones(rows, dtype=np.bool_)
    bad_byte = odd[arr[odd] != 10]
    ok[np.searchsorted(ends, bad_byte)] = False
    commas = np.bincount(np.searchsorted(ends, np.flatnonzero(arr == 44)), minlength=rows)
    ok &= commas == width - 1
    return ok


def _parse_group(
    header: _Header, joined: bytes, n: int, keys: list[str], as_of: dt.date | None
) -> tuple[tuple[LoanArrays, NDArray[np.bool_], NDArray[np.bool_]] | None, NDArray[np.bool_]]:
    """``((arrays, defaulted, accepted), rest)`` of ``n`` data lines (``joined``, each
    ending in a newline): the loans of the rows that pass, which rows they are, and the
    rows left to the per-row parser."""
    indices = list(header.columns.values())
    cut = split_plain(joined, n, header.width, indices)  # the usual rows: all plain
    plain = np.ones(n, dtype=np.bool_)
    if cut is None:
        plain = _plain_rows(joined, n, header.width)
        if not plain.all():
            arr = np.frombuffer(joined, dtype=np.uint8)
            sizes = np.diff(np.flatnonzero(arr == 10), prepend=-1)
            joined = arr[np.repeat(plain, sizes)].tobytes()
            keys = [k for k, p in zip(keys, plain, strict=True) if p]
        if not keys:
            return None, ~plain
        # plain rows (no quotes, the header's field count): cut at every comma and newline
        cut = split_columns(joined, len(keys), header.width, indices)
    if b" " in joined:  # else trimming changes nothing: skip it
        cut = pc.utf8_trim(cut, " ")
    m = len(keys)
    text = {canon: cut.slice(i * m, m) for i, canon in enumerate(header.columns)}
    sizes = lengths(cut).reshape(len(indices), m)
    empty = {canon: sizes[i] == 0 for i, canon in enumerate(header.columns)}
    names = tuple(header.columns)[: header.numeric]
    values = _numbers(cut.slice(0, header.numeric * m), len(names))
    numbers = dict(zip(names, values, strict=True))
    inside = dict(zip(names, _ranged(values, names), strict=True))
    arrays, defaulted, ok = _columns(text, empty, numbers, inside, keys, as_of)
    accepted = np.flatnonzero(plain)[ok]
    rest = np.ones(plain.shape[0], dtype=np.bool_)
    rest[accepted] = False
    flags = defaulted[ok]
    taken = arrays if ok.all() else arrays.take(np.flatnonzero(ok))
    return (taken, flags, _mask(plain.shape[0], accepted)), rest


def _mask(n: int, index: NDArray[np.int64]) -> NDArray[np.bool_]:
    out = np.zeros(n, dtype=np.bool_)
    out[index] = True
    return out


def _np(arr: pa.Array) -> NDArray[np.bool_]:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _ints(arr: pa.Array) -> NDArray[np.int64]:
    return np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _numbers(joined: pa.Array, columns: int) -> NDArray[np.float64]:
    """(columns, rows): the values of numeric columns (``joined``: their text, column
    after column), NaN where the text is not a plain finite number (one regex match and
    one cast over all of them)."""
    plain = plain_decimals(joined)  # most values: no expression needed
    if not plain.all():
        rest = np.flatnonzero(~plain)
        plain[rest] = _np(pc.match_substring_regex(joined.take(pa.array(rest)), _NUMBER))
    if not plain.all():
        joined = pc.if_else(pa.array(plain), joined, pa.scalar("nan"))
    values = np.asarray(pc.cast(joined, pa.float64()).to_numpy(zero_copy_only=False))
    return values.reshape(columns, -1)


def _ranged(values: NDArray[np.float64], names: tuple[str, ...]) -> NDArray[np.bool_]:
    """(columns, rows): where each value is a number within its column's range (``values``
    the columns ``names``, one a row; NaN is not), all columns at once."""
    lo, hi, lo_open, hi_open = _bounds(names)
    inside = (values >= lo) & (values <= hi)
    inside &= ~(lo_open & (values == lo)) & ~(hi_open & (values == hi))
    return np.asarray(inside, dtype=np.bool_)


@functools.lru_cache(maxsize=64)
def _bounds(
    names: tuple[str, ...],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """The columns' RANGES as (columns, 1) arrays: low, high, low open, high open."""
    lo, hi, lo_open, hi_open = zip(*[RANGES[name] for name in names], strict=True)
    return (
        np.array(lo, dtype=np.float64)[:, None],
        np.array(hi, dtype=np.float64)[:, None],
        np.array(lo_open, dtype=np.bool_)[:, None],
        np.array(hi_open, dtype=np.bool_)[:, None],
    )


def _empty(empty: dict[str, NDArray[np.bool_]], name: str, n: int) -> NDArray[np.bool_]:
    """Where the column is empty (everywhere when it is absent)."""
    got = empty.get(name)
    return np.ones(n, dtype=np.bool_) if got is None else got


def _dates(
    arr: pa.Array, ok: NDArray[np.bool_], as_of: dt.date | None
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Year, month and day of MM/DD/YYYY or YYYY-MM-DD dates that exist (and are not after
    ``as_of``); clears ``ok`` elsewhere."""
    fixed = fixed_dates(arr)  # every date in a usual form: no expression needed
    if fixed is not None:
        year, month, day = fixed
    else:
        us = _np(pc.match_substring_regex(arr, _US_DATE))
        iso = _np(pc.match_substring_regex(arr, _ISO_DATE)) & ~us
        ok &= us | iso
        year, month, day = (np.ones(ok.shape[0], dtype=np.int64) for _ in range(3))
        for pattern, where in ((_US_DATE, us), (_ISO_DATE, iso)):
            if where.any():
                found = pc.extract_regex(arr.filter(pa.array(where)), pattern)
                year[where], month[where], day[where] = (_ints(found.field(f)) for f in "ymd")
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= day <= days
    if as_of is not None:
        ok &= (
            year * 10_000 + month * 100 + day <= as_of.year * 10_000 + as_of.month * 100 + as_of.day
        )
    return year, month, day


def _choice(
    text: dict[str, pa.Array],
    empties: dict[str, NDArray[np.bool_]],
    name: str,
    options: tuple[str, str],
    ok: NDArray[np.bool_],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """True for the second option (empty: the first), and where the column is empty."""
    arr, empty = text.get(name), _empty(empties, name, ok.shape[0])
    if arr is None:
        return np.zeros(ok.shape[0], dtype=np.bool_), empty
    lower = pc.ascii_lower(arr)
    second = _np(pc.equal(lower, options[1]))
    ok &= second | empty | _np(pc.equal(lower, options[0]))
    return second, empty


def _zips(arr: pa.Array) -> tuple[NDArray[np.bool_], pa.Array]:
    """Where the text is a ZIP code, and its first five digits (zero-padded)."""
    if all_digits(arr, 1, 5).all():  # plain short ZIP codes: no expression needed
        return np.ones(len(arr), dtype=np.bool_), pc.utf8_lpad(arr, 5, padding="0")
    zip_ok = _np(pc.match_substring_regex(arr, _ZIP))
    zips = pc.extract_regex(pc.if_else(pa.array(zip_ok), arr, "0"), _ZIP)
    return zip_ok, pc.utf8_lpad(zips.field("z"), 5, padding="0")


def _columns(
    text: dict[str, pa.Array],
    empty: dict[str, NDArray[np.bool_]],
    numbers: dict[str, NDArray[np.float64]],
    inside: dict[str, NDArray[np.bool_]],
    keys: list[str],
    as_of: dt.date | None,
) -> tuple[LoanArrays, NDArray[np.bool_], NDArray[np.bool_]]:
    """Every column's values (``numbers``: the numeric columns' :func:`_numbers`, and
    ``inside`` where each is within its range), which optional columns took their
    default, and which rows the per-row parser would accept with exactly these values
    (``empty``: where each column's text is empty)."""
    n = len(keys)
    ok = np.ones(n, dtype=np.bool_)
    account = text["AccountID"]
    ok &= all_digits(account, 1, 18)  # ^[0-9]{1,18}$ (the rows are ASCII)
    if not ok.all():
        account = pc.if_else(pa.array(ok), account, pa.scalar("0"))
    ids = pc.cast(account, pa.int64())
    zip_ok, zip5 = _zips(text["ZipCode"])
    ok &= zip_ok
    for name in ("Rate", "Payment", "LoanAmount", "LoanTerm", "GrossIncome"):
        ok &= inside[name]
    rate, payment, amount = numbers["Rate"], numbers["Payment"], numbers["LoanAmount"]
    term, income = numbers["LoanTerm"], numbers["GrossIncome"]
    with np.errstate(invalid="ignore"):
        ok &= term == np.floor(term)
    year, month, day = _dates(text["OriginationDate"], ok, as_of)
    commercial, type_empty = _choice(text, empty, "LoanType", ("personal", "commercial"), ok)
    fixed, rtype_empty = _choice(text, empty, "RateType", ("variable", "fixed"), ok)
    ok &= commercial | (income != 0)
    empties = {"LoanType": type_empty, "RateType": rtype_empty}
    values: dict[str, NDArray[np.float64]] = {}
    for name, default in (
        ("CreditScore", 680.0),
        ("NOI", np.nan),
        ("CollateralValue", 0.0),
        ("OtherMonthlyDebt", 0.0),
        ("PD", np.nan),
        ("LGD", np.nan),
        ("Rho", np.nan),
    ):
        blank = _empty(empty, name, n)
        got = numbers.get(name)
        if got is None:  # an absent column: empty everywhere
            values[name] = np.full(n, default)
        else:
            ok &= inside[name] | blank
            values[name] = np.where(blank, default, got)
        empties[name] = blank
    defaulted = np.stack([empties[name] for name in OPTIONAL], axis=1)
    arrays = LoanArrays(
        keys=np.array(keys, dtype=object),
        account_id=np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64),
        zip_code=np.asarray(zip5.to_numpy(zero_copy_only=False), dtype=object),
        rate=rate,
        payment=payment,
        amount=amount,
        term=np.where(ok, term, 0.0).astype(np.int64),
        orig_year=year,
        orig_month=month,
        orig_day=day,
        income=income,
        commercial=commercial,
        fixed=fixed,
        credit_score=values["CreditScore"],
        noi=values["NOI"],
        collateral=values["CollateralValue"],
        other_debt=values["OtherMonthlyDebt"],
        pd=values["PD"],
        lgd=values["LGD"],
        rho=values["Rho"],
    )
    return arrays, defaulted, ok
