"""Loan records: parse and validate loan objects into columnar arrays.

A loan object is a small CSV (header row, one data row per loan). Anything
that cannot be used becomes a :class:`Reject` carrying the object key and a
plain reason; the caller carries on with the rest. Optional columns that are
absent (or empty) take the contract's defaults, and which defaults were used is
counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from montemap.credit.columns import OPTIONAL_COLUMNS, OVERRIDE_COLUMNS, REQUIRED_COLUMNS
from montemap.errors import MontemapError

MAX_OBJECT_BYTES = 1 << 20
#: Largest accepted amount (currency); keeps losses in exact integer cents.
MAX_AMOUNT = 1e12
#: The most characters of a value a reject reason quotes (:func:`quoted`).
MAX_QUOTED = 40
REQUIRED = REQUIRED_COLUMNS
OPTIONAL = OPTIONAL_COLUMNS
OVERRIDES = OVERRIDE_COLUMNS
_CANONICAL = {name.lower(): name for name in (*REQUIRED, *OPTIONAL, *OVERRIDES)}
#: Numbers, dates and ZIP codes are written in ASCII digits (``[0-9]``): Python's
#: ``\d``, ``int`` and ``float`` also take the digits of other scripts (``١٢٣``,
#: fullwidth ``１２３``), which the bulk parse, ``import``'s checks and other readers of
#: the objects do not.
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_US_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_ZIP = re.compile(r"^([0-9]{1,5})(-[0-9]{4})?$")
#: An AccountID: ASCII digits, at most 19 of them after leading zeros (2**63-1 has 19;
#: ``int`` refuses a string of thousands of digits with a ValueError of its own).
_ACCOUNT = re.compile(r"0*([0-9]{1,19})")
_MAX_ACCOUNT = (1 << 63) - 1
#: Range of every numeric column, ``(low, high, low_open, high_open)``: what
#: :func:`parse_fields` accepts, and what ``montemap import`` checks (fatal under --strict).
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "Rate": (0.0, 100.0, False, False),
    "Payment": (0.0, MAX_AMOUNT, False, False),
    "LoanAmount": (0.0, MAX_AMOUNT, True, False),
    "LoanTerm": (1.0, 1200.0, False, False),
    "GrossIncome": (0.0, MAX_AMOUNT, False, False),
    "CreditScore": (300.0, 850.0, False, False),
    "NOI": (-MAX_AMOUNT, MAX_AMOUNT, False, False),
    "CollateralValue": (0.0, MAX_AMOUNT, False, False),
    "OtherMonthlyDebt": (0.0, MAX_AMOUNT, False, False),
    "PD": (0.0, 1.0, False, False),
    "LGD": (0.0, 1.0, False, False),
    "Rho": (0.0, 1.0, False, True),
}


class RecordError(MontemapError, ValueError):
    """A field that cannot be used; the message is the reject reason."""


@dataclass(frozen=True)
class Reject:
    """An object (or row) that was not simulated, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class Loan:
    """One validated loan record (NaN marks an absent optional numeric column)."""

    key: str
    account_id: int
    zip_code: str
    rate: float
    payment: float
    amount: float
    term: int
    origination: dt.date
    income: float
    commercial: bool
    fixed: bool
    credit_score: float
    noi: float
    collateral: float
    other_debt: float
    pd: float
    lgd: float
    rho: float
    defaulted: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------- fields


def _number(name: str, text: str) -> float:
    if not _NUMBER.match(text):
        raise RecordError(f"column '{name}': {quoted(text)} is not a number{_digits_hint(text)}")
    value = float(text)
    if not math.isfinite(value):
        raise RecordError(f"column '{name}': {quoted(text)} is out of range")
    return value


def quoted(text: str, *, quote: bool = True) -> str:
    """A value as a reject reason shows it: at most :data:`MAX_QUOTED` characters of it
    (a field may be most of a 1 MB object), then how long it is."""
    shown = text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED]
    shown = repr(shown) if quote else shown
    return shown if len(text) <= MAX_QUOTED else f"{shown}... ({len(text):,} characters)"


def _digits_hint(text: str) -> str:
    """What to add to a reason when ``text`` holds digits other than ASCII ones."""
    other = not text.isascii() and any(c.isdigit() and not c.isascii() for c in text)
    return " (digits must be ASCII 0-9)" if other else ""


def _non_negative(name: str, text: str) -> float:
    value = _number(name, text)
    if value < 0:
        raise RecordError(f"column '{name}': value {quoted(text, quote=False)} is negative")
    if value > MAX_AMOUNT:
        raise RecordError(
            f"column '{name}': value {quoted(text, quote=False)} exceeds {MAX_AMOUNT:,.0f}"
        )
    return value


def _integer(name: str, text: str) -> int:
    value = _number(name, text)
    if value != int(value):
        raise RecordError(f"column '{name}': {quoted(text)} is not a whole number")
    return int(value)


def _in_range(name: str, text: str, lo: float, hi: float, *, hi_open: bool = False) -> float:
    value = _number(name, text)
    if value < lo or value > hi or (hi_open and value == hi):
        bracket = ")" if hi_open else "]"
        raise RecordError(
            f"column '{name}': value {quoted(text, quote=False)} is outside "
            f"[{lo:g}, {hi:g}{bracket}"
        )
    return value


def parse_date(name: str, text: str) -> dt.date:
    """``MM/DD/YYYY`` (the contract) or ``YYYY-MM-DD`` (typed tapes)."""
    if m := _US_DATE.match(text):
        month, day, year = (int(g) for g in m.groups())
    elif m := _ISO_DATE.match(text):
        year, month, day = (int(g) for g in m.groups())
    else:
        raise RecordError(
            f"column '{name}': {quoted(text)} is not a date (MM/DD/YYYY){_digits_hint(text)}"
        )
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise RecordError(f"column '{name}': {quoted(text)} is not a valid date")


def _account_id(text: str) -> int:
    """An AccountID: an integer from 0 to 2**63-1 in ASCII digits."""
    account = _ACCOUNT.fullmatch(text)
    account_id = int(account.group(1)) if account else -1
    if not 0 <= account_id <= _MAX_ACCOUNT:
        if text.lstrip("+-").isdigit() or _NUMBER.match(text):
            raise RecordError(
                f"column 'AccountID': {quoted(text)} is not an integer from 0 to 2**63-1"
                + _digits_hint(text)
            )
        raise RecordError(f"column 'AccountID': {quoted(text)} is not a number")
    return account_id


def _choice(name: str, text: str, options: tuple[str, str]) -> bool:
    """True for the second option."""
    value = text.strip().lower()
    if value not in options:
        raise RecordError(f"column '{name}': {quoted(text)} is not one of {', '.join(options)}")
    return value == options[1]


def parse_fields(key: str, fields: Mapping[str, str], as_of: dt.date | None = None) -> Loan:
    """Validate one record (column name -> text); raises :class:`RecordError`."""
    values: dict[str, str] = {}
    for raw_name, raw_value in fields.items():
        name = _CANONICAL.get(raw_name.strip().lower())
        if name is not None:
            values[name] = (raw_value or "").strip()
    for name in REQUIRED:
        if name not in values:
            raise RecordError(f"missing column '{name}'")
        if not values[name]:
            raise RecordError(f"column '{name}' is empty")
    defaulted = frozenset(n for n in OPTIONAL if not values.get(n))

    account_id = _account_id(values["AccountID"])
    zip_match = _ZIP.match(values["ZipCode"])
    if not zip_match:
        raise RecordError(
            f"column 'ZipCode': {quoted(values['ZipCode'])} is not a 5-digit ZIP code"
            + _digits_hint(values["ZipCode"])
        )
    rate = _in_range("Rate", values["Rate"], 0.0, 100.0)
    payment = _non_negative("Payment", values["Payment"])
    amount = _non_negative("LoanAmount", values["LoanAmount"])
    if amount == 0:
        raise RecordError("column 'LoanAmount': the amount must be positive")
    term = _integer("LoanTerm", values["LoanTerm"])
    if not 1 <= term <= 1200:
        raise RecordError(
            f"column 'LoanTerm': term {quoted(values['LoanTerm'], quote=False)} must be 1 to "
            "1200 months"
        )
    origination = parse_date("OriginationDate", values["OriginationDate"])
    if as_of is not None and origination > as_of:
        raise RecordError(
            f"column 'OriginationDate': {origination.isoformat()} is after the analysis date "
            f"{as_of.isoformat()}"
        )
    income = _non_negative("GrossIncome", values["GrossIncome"])

    opt = values.get
    commercial = _choice("LoanType", opt("LoanType") or "personal", ("personal", "commercial"))
    fixed = _choice("RateType", opt("RateType") or "variable", ("variable", "fixed"))
    score_text = opt("CreditScore")
    score = _in_range("CreditScore", score_text, 300, 850) if score_text else 680.0
    noi_text = opt("NOI")
    noi = _in_range("NOI", noi_text, -MAX_AMOUNT, MAX_AMOUNT) if noi_text else math.nan
    collateral = _non_negative("CollateralValue", opt("CollateralValue") or "0")
    other_debt = _non_negative("OtherMonthlyDebt", opt("OtherMonthlyDebt") or "0")
    pd_text, lgd_text, rho_text = opt("PD"), opt("LGD"), opt("Rho")
    pd = _in_range("PD", pd_text, 0.0, 1.0) if pd_text else math.nan
    lgd = _in_range("LGD", lgd_text, 0.0, 1.0) if lgd_text else math.nan
    rho = _in_range("Rho", rho_text, 0.0, 1.0, hi_open=True) if rho_text else math.nan
    if not commercial and income == 0:
        raise RecordError("column 'GrossIncome': must be positive for a personal loan")

    return Loan(
        key=key,
        account_id=account_id,
        zip_code=zip_match.group(1).zfill(5),
        rate=rate,
        payment=payment,
        amount=amount,
        term=term,
        origination=origination,
        income=income,
        commercial=commercial,
        fixed=fixed,
        credit_score=score,
        noi=noi,
        collateral=collateral,
        other_debt=other_debt,
        pd=pd,
        lgd=lgd,
        rho=rho,
        defaulted=defaulted,
    )


# --------------------------------------------------------------------------- objects


def parse_object(
    key: str, data: bytes, as_of: dt.date | None = None
) -> tuple[list[Loan], list[Reject]]:
    """Parse one loan object (CSV with a header; normally one data row).

    An object with several data rows yields one loan per row, keyed
    ``<key>#<row>``; problems with one row reject only that row.
    """
    if len(data) > MAX_OBJECT_BYTES:
        return [], [Reject(key, f"object is larger than 1 MB ({MAX_OBJECT_BYTES} bytes)")]
    if not data.strip():
        return [], [Reject(key, "empty object")]
    if b"\x00" in data:
        return [], [Reject(key, "binary content (not UTF-8 text)")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Reject(key, "binary content (not UTF-8 text)")]
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(row)]
    except csv.Error as exc:
        return [], [Reject(key, f"malformed CSV: {exc}")]
    if not rows:
        return [], [Reject(key, "empty object")]
    header = [h.strip() for h in rows[0]]
    if len(set(h.lower() for h in header)) != len(header):
        return [], [Reject(key, "header row repeats a column name")]
    if len(rows) < 2:
        return [], [Reject(key, "header row but no data row")]
    loans: list[Loan] = []
    rejects: list[Reject] = []
    multi = len(rows) > 2
    for number, row in enumerate(rows[1:], start=1):
        row_key = f"{key}#{number}" if multi else key
        if len(row) != len(header):
            rejects.append(
                Reject(row_key, f"data row has {len(row)} fields, the header has {len(header)}")
            )
            continue
        try:
            loans.append(parse_fields(row_key, dict(zip(header, row, strict=True)), as_of))
        except RecordError as exc:
            rejects.append(Reject(row_key, str(exc)))
    return loans, rejects


def parse_records(
    records: Iterable[tuple[str, Mapping[str, str]]], as_of: dt.date | None = None
) -> tuple[list[Loan], list[Reject]]:
    """Validate already-split records (tape rows) given as ``(key, fields)``."""
    loans: list[Loan] = []
    rejects: list[Reject] = []
    for key, fields in records:
        try:
            loans.append(parse_fields(key, fields, as_of))
        except RecordError as exc:
            rejects.append(Reject(key, str(exc)))
    return loans, rejects


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class LoanArrays:
    """Loans as aligned columns (the model's and kernel's input)."""

    keys: NDArray[np.object_]
    account_id: NDArray[np.int64]
    zip_code: NDArray[np.object_]
    rate: NDArray[np.float64]
    payment: NDArray[np.float64]
    amount: NDArray[np.float64]
    term: NDArray[np.int64]
    orig_year: NDArray[np.int64]
    orig_month: NDArray[np.int64]
    orig_day: NDArray[np.int64]
    income: NDArray[np.float64]
    commercial: NDArray[np.bool_]
    fixed: NDArray[np.bool_]
    credit_score: NDArray[np.float64]
    noi: NDArray[np.float64]
    collateral: NDArray[np.float64]
    other_debt: NDArray[np.float64]
    pd: NDArray[np.float64]
    lgd: NDArray[np.float64]
    rho: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.account_id.shape[0])

    @classmethod
    def from_loans(cls, loans: Sequence[Loan]) -> LoanArrays:
        def col(attr: str, dtype: type) -> NDArray:
            return np.array([getattr(ln, attr) for ln in loans], dtype=dtype)

        return cls(
            keys=col("key", object),
            account_id=col("account_id", np.int64),
            zip_code=col("zip_code", object),
            rate=col("rate", np.float64),
            payment=col("payment", np.float64),
            amount=col("amount", np.float64),
            term=col("term", np.int64),
            orig_year=np.array([ln.origination.year for ln in loans], dtype=np.int64),
            orig_month=np.array([ln.origination.month for ln in loans], dtype=np.int64),
            orig_day=np.array([ln.origination.day for ln in loans], dtype=np.int64),
            income=col("income", np.float64),
            commercial=col("commercial", np.bool_),
            fixed=col("fixed", np.bool_),
            credit_score=col("credit_score", np.float64),
            noi=col("noi", np.float64),
            collateral=col("collateral", np.float64),
            other_debt=col("other_debt", np.float64),
            pd=col("pd", np.float64),
            lgd=col("lgd", np.float64),
            rho=col("rho", np.float64),
        )

    def take(self, index: NDArray[np.intp]) -> LoanArrays:
        """The loans at ``index``, in that order."""
        return LoanArrays(
            **{name: getattr(self, name)[index] for name in self.__dataclass_fields__}
        )


def defaults_applied(loans: Iterable[Loan]) -> dict[str, int]:
    """How many loans took the default of each optional column."""
    counts: Counter[str] = Counter()
    for loan in loans:
        counts.update(loan.defaulted)
    return {name: counts.get(name, 0) for name in OPTIONAL}


def overrides_used(loans: Iterable[Loan]) -> dict[str, int]:
    """How many loans carry their own PD, LGD and Rho."""
    counts = {"PD": 0, "LGD": 0, "Rho": 0}
    for loan in loans:
        counts["PD"] += not math.isnan(loan.pd)
        counts["LGD"] += not math.isnan(loan.lgd)
        counts["Rho"] += not math.isnan(loan.rho)
    return counts
