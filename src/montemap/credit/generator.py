"""Drawing loan portfolios: the ``seed`` and ``realistic`` layouts, as CSV data rows.

:func:`generate` draws a portfolio and writes it with
:class:`~montemap.credit.portfolio.PortfolioWriter` (one object per loan plus its S3
Inventory; :mod:`montemap.credit.portfolio` describes the layout). Generation is
vectorised per block of loans with NumPy's counter-based Philox generator keyed by
(seed, layout, block), so a portfolio depends only on its parameters, and the first N
loans of a larger portfolio are the N-loan portfolio.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from montemap.credit.columns import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from montemap.credit.portfolio import (
    INVENTORY_ROWS_PER_FILE,
    Destination,
    GeneratorError,
    PortfolioWriter,
    WriteResult,
)

Layout = Literal["seed", "realistic"]
LAYOUTS: tuple[Layout, ...] = ("seed", "realistic")

#: Loans drawn per random block; part of the output's definition, never change it.
BLOCK = 65_536

REALISTIC_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_LAYOUT_CODE = {"seed": 1, "realistic": 2}
_SEED_DATE_FIRST = np.datetime64("2015-01-01")
_SEED_DATE_LAST = np.datetime64("2024-12-31")


# --------------------------------------------------------------------------- formatting


def fmt_int(values: np.ndarray) -> pa.Array:
    """Integers as decimal strings."""
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def fmt_fixed(values: np.ndarray, decimals: int) -> pa.Array:
    """Non-negative numbers with exactly ``decimals`` decimals ("1234.50")."""
    if decimals == 0:
        return fmt_int(np.rint(values))
    scale = 10**decimals
    scaled = np.rint(np.asarray(values, dtype=np.float64) * scale).astype(np.int64)
    if scaled.size and scaled.min() < 0:
        raise GeneratorError("fmt_fixed formats non-negative numbers only")
    whole = fmt_int(scaled // scale)
    frac = pc.utf8_lpad(fmt_int(scaled % scale), decimals, padding="0")
    return pc.binary_join_element_wise(whole, frac, ".")


def fmt_zip(values: np.ndarray) -> pa.Array:
    """Five-digit ZIP codes with their leading zeros."""
    return pc.utf8_lpad(fmt_int(values), 5, padding="0")


def fmt_date(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> pa.Array:
    """Dates as MM/DD/YYYY."""
    mm = pc.utf8_lpad(fmt_int(month), 2, padding="0")
    dd = pc.utf8_lpad(fmt_int(day), 2, padding="0")
    return pc.binary_join_element_wise(mm, dd, fmt_int(year), "/")


def fmt_choice(index: np.ndarray, labels: Sequence[str]) -> pa.Array:
    """Category labels by index."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(index, dtype=np.int32)), pa.array(list(labels))
    ).cast(pa.string())


def join_columns(columns: Sequence[pa.Array]) -> pa.Array:
    """One CSV row per position from already formatted string columns."""
    return pc.binary_join_element_wise(*columns, ",")


# --------------------------------------------------------------------------- drawing


def annuity(amount: np.ndarray, apr: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Level monthly payment ``B*r / (1 - (1+r)^-n)`` with ``r = apr/1200`` (apr in percent)."""
    amount = np.asarray(amount, dtype=np.float64)
    r = np.asarray(apr, dtype=np.float64) / 1200.0
    n = np.asarray(months, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pay = amount * r / -np.expm1(-n * np.log1p(r))
    return np.where(r == 0, amount / n, pay)


def _rng(seed: int, layout: Layout, block: int) -> np.random.Generator:
    key = np.array([seed, (_LAYOUT_CODE[layout] << 48) | block], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def draw_seed_block(seed: int, block: int, first_id: int) -> list[pa.Array]:
    """The ``seed`` layout: every column drawn independently and uniformly (documented ranges)."""
    rng = _rng(seed, "seed", block)
    n = BLOCK
    zips = rng.integers(501, 99951, n)
    rate = rng.integers(10, 100, n)  # tenths of a percent: 1.0 .. 9.9
    payment = rng.integers(10_000, 1_000_001, n)  # cents: 100.00 .. 10,000.00
    amount = rng.integers(1_000, 10_000_001, n)
    term = rng.integers(12, 361, n)
    span = int((_SEED_DATE_LAST - _SEED_DATE_FIRST).astype(np.int64))
    days = _SEED_DATE_FIRST + rng.integers(0, span + 1, n).astype("timedelta64[D]")
    income = rng.integers(20_000, 500_001, n)
    year, month, day = _ymd(days)
    return [
        fmt_int(np.arange(first_id, first_id + n)),
        fmt_zip(zips),
        fmt_fixed(rate / 10.0, 1),
        fmt_fixed(payment / 100.0, 2),
        fmt_int(amount),
        fmt_int(term),
        fmt_date(year, month, day),
        fmt_int(income),
    ]


_PERSONAL_TERMS = np.array([36, 48, 60, 72, 84, 120, 180, 240, 360])
_PERSONAL_TERM_P = np.array([0.14, 0.10, 0.18, 0.10, 0.08, 0.06, 0.10, 0.06, 0.18])
_COMMERCIAL_TERMS = np.array([60, 84, 120, 180, 240, 300])
_COMMERCIAL_TERM_P = np.array([0.15, 0.20, 0.30, 0.15, 0.10, 0.10])


def draw_realistic_block(seed: int, block: int, first_id: int, as_of: dt.date) -> list[pa.Array]:
    """Coherent loans (see docs/generator.md for every distribution and its parameters)."""
    rng = _rng(seed, "realistic", block)
    n = BLOCK
    commercial = rng.random(n) < 0.20
    variable = rng.random(n) < 0.40
    score = np.where(commercial, rng.normal(715.0, 50.0, n), rng.normal(705.0, 65.0, n)).round()
    score = np.clip(score, 300, 850)
    term = np.where(
        commercial,
        rng.choice(_COMMERCIAL_TERMS, n, p=_COMMERCIAL_TERM_P),
        rng.choice(_PERSONAL_TERMS, n, p=_PERSONAL_TERM_P),
    )
    mortgage = ~commercial & (term >= 120)
    base = np.select([commercial, mortgage], [5.75, 4.25], 7.5)
    lo = np.select([commercial, mortgage], [3.0, 2.5], 3.0)
    hi = np.select([commercial, mortgage], [14.0, 12.0], 24.0)
    rate = base + 0.02 * (720.0 - score) + rng.normal(0.0, 0.6, n) - 0.35 * variable
    rate = np.clip(rate, lo, hi).round(2)

    # personal: income, total debt-to-income and this loan's share of the debt service
    # give the payment the borrower took on; the amount is what that payment buys
    z = rng.normal(0.0, 1.0, n)
    income = np.clip(
        np.where(mortgage, np.exp(np.log(105_000) + 0.45 * z), np.exp(np.log(72_000) + 0.5 * z)),
        15_000,
        2_000_000,
    ).round()
    dti = np.clip(rng.normal(0.31, 0.085, n), 0.05, 0.62)
    share = np.where(mortgage, rng.uniform(0.55, 0.95, n), rng.uniform(0.08, 0.50, n))
    target = dti * share * income / 12.0
    personal_amount = np.where(
        mortgage,
        np.clip(target / annuity(np.ones(n), rate, term), 30_000, 3_000_000),
        np.clip(target / annuity(np.ones(n), rate, term), 1_000, 150_000),
    )
    # commercial: size, debt service coverage and operating margin NOI / gross income
    commercial_amount = np.clip(np.exp(np.log(1_200_000) + 0.9 * z), 100_000, 10_000_000)
    amount = np.where(commercial, commercial_amount, personal_amount).round()
    payment = annuity(amount, rate, term).round(2)
    dscr = np.clip(np.exp(np.log(1.45) + 0.22 * rng.normal(0.0, 1.0, n)), 0.9, 4.0)
    margin = rng.uniform(0.25, 0.50, n)
    noi = np.where(commercial, dscr * 12.0 * payment, 0.0).round()
    income = np.where(commercial, (noi / margin).round(), income)
    other_debt = np.where(commercial, 0.0, np.maximum(dti * income / 12.0 - payment, 0.0)).round(2)

    collateral = _draw_collateral(rng, commercial, mortgage, amount)
    year, month, day = _draw_origination(rng, term, as_of)
    zips = rng.integers(1001, 99951, n)

    return [
        fmt_int(np.arange(first_id, first_id + n)),
        fmt_zip(zips),
        fmt_fixed(rate, 2),
        fmt_fixed(payment, 2),
        fmt_int(amount),
        fmt_int(term),
        fmt_date(year, month, day),
        fmt_int(income),
        fmt_choice(commercial.astype(np.int32), ("personal", "commercial")),
        fmt_choice(variable.astype(np.int32), ("fixed", "variable")),
        fmt_int(score),
        fmt_int(noi),
        fmt_int(collateral),
        fmt_fixed(other_debt, 2),
    ]


def _draw_collateral(
    rng: np.random.Generator, commercial: np.ndarray, mortgage: np.ndarray, amount: np.ndarray
) -> np.ndarray:
    """Collateral value: secured loans (all mortgages, most commercial loans, some personal
    ones) at a drawn loan-to-value; unsecured loans 0."""
    n = amount.shape[0]
    secured = np.select(
        [commercial, mortgage], [rng.random(n) < 0.85, np.ones(n, bool)], rng.random(n) < 0.35
    )
    ltv = np.select(
        [commercial, mortgage],
        [rng.uniform(0.45, 0.80, n), rng.uniform(0.55, 0.97, n)],
        rng.uniform(0.70, 1.20, n),
    )
    return np.where(secured, amount / ltv, 0.0).round()


def _draw_origination(
    rng: np.random.Generator, term: np.ndarray, as_of: dt.date
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origination (year, month, day) by seasoning: most loans part-way through their term,
    about 2.5% already matured; none after ``as_of``."""
    n = term.shape[0]
    matured = rng.random(n) < 0.025
    frac = rng.beta(1.1, 1.8, n)
    live_months = np.floor(frac * np.minimum(term - 1, 180)).astype(np.int64)
    elapsed = np.where(matured, term + rng.integers(0, 25, n), live_months)
    month_index = as_of.year * 12 + (as_of.month - 1) - elapsed
    year = month_index // 12
    month = month_index % 12 + 1
    drawn_day = rng.integers(1, 29, n)
    day = np.where(elapsed == 0, np.minimum(drawn_day, as_of.day), drawn_day)
    return year, month, day


def layout_columns(layout: Layout) -> tuple[str, ...]:
    """The header of a layout's loan objects."""
    return REQUIRED_COLUMNS if layout == "seed" else REALISTIC_COLUMNS


def generate_rows(layout: Layout, seed: int, start: int, count: int, as_of: dt.date) -> pa.Array:
    """CSV data rows of loans ``start`` .. ``start + count - 1`` (0-based), in order."""
    out: list[pa.Array] = []
    end = start + count
    block = start // BLOCK
    while block * BLOCK < end:
        first = block * BLOCK
        if layout == "seed":
            cols = draw_seed_block(seed, block, first + 1)
        else:
            cols = draw_realistic_block(seed, block, first + 1, as_of)
        lo, hi = max(start, first) - first, min(end, first + BLOCK) - first
        out.append(join_columns([c.slice(lo, hi - lo) for c in cols]))
        block += 1
    return pa.concat_arrays(out) if len(out) > 1 else out[0]


def check_seed(seed: int) -> int:
    """``seed`` if it fits Philox's 64-bit key word, else a :class:`GeneratorError`."""
    if not 0 <= seed < 2**64:
        raise GeneratorError(f"--seed must be an integer in [0, 2**64), got {seed}")
    return seed


def generate(
    destination: Destination,
    loans: int,
    *,
    layout: Layout = "realistic",
    seed: int = 0,
    as_of: dt.date | None = None,
    replace: bool = False,
    rows_per_inventory_file: int = INVENTORY_ROWS_PER_FILE,
    progress: Callable[[int, int], None] | None = None,
) -> WriteResult:
    """Generate ``loans`` loans into ``destination``: objects, inventory and manifest.

    Deterministic for (layout, seed, loans, as_of): ``as_of`` (default today, UTC) anchors
    the realistic layout's origination dates and is the manifest's creation timestamp.
    """
    if layout not in LAYOUTS:
        raise GeneratorError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if loans < 1:
        raise GeneratorError(f"--loans must be at least 1, got {loans}")
    check_seed(seed)
    day = as_of or dt.datetime.now(dt.UTC).date()
    created = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    with PortfolioWriter(
        destination,
        loans=loans,
        columns=layout_columns(layout),
        created=created,
        replace=replace,
        rows_per_inventory_file=rows_per_inventory_file,
    ) as writer:
        for start in range(0, loans, BLOCK):
            count = min(BLOCK, loans - start)
            writer.write(generate_rows(layout, seed, start, count, day))
            if progress is not None:
                progress(start + count, loans)
        return writer.close()
