"""Loan portfolios in the original layout: one CSV object per loan plus its S3 Inventory.

A portfolio lives in a *source bucket* (locally ``<data-dir>/buckets/montemap-source``):

* ``data/data-gen-000001.csv`` ... one object per loan, a header row and one data row
  (six digits, more when there are over 999,999 loans);
* ``inventory/loans-00000.csv.gz`` ... the S3 Inventory of those objects: gzip CSV rows
  ``"Bucket","Key","Size"`` without a header, as S3 Inventory writes them;
* ``inventory/manifest.json`` (and ``manifest.checksum``), the inventory manifest that a
  Distributed Map's ``ItemReader`` (``InputType: MANIFEST``) reads.

:func:`generate` draws a portfolio (layouts ``seed`` and ``realistic``) and
:class:`PortfolioWriter` writes any stream of loan rows in that layout (the tape import
uses it too). Generation is vectorised per block of loans with NumPy's counter-based
Philox generator keyed by (seed, layout, block), so a portfolio depends only on its
parameters, and the first N loans of a larger portfolio are the N-loan portfolio.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from montemap.credit.columns import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from montemap.errors import MontemapError
from montemap.storage import (
    LocalObjectStore,
    ObjectStore,
    ObjectStoreError,
    validate_bucket,
    validate_key,
)

Layout = Literal["seed", "realistic"]
LAYOUTS: tuple[Layout, ...] = ("seed", "realistic")

SOURCE_BUCKET = "montemap-source"
DATA_PREFIX = "data/"
INVENTORY_PREFIX = "inventory/"
MANIFEST_NAME = "manifest.json"
#: Loans drawn per random block; part of the output's definition, never change it.
BLOCK = 65_536
#: Rows per inventory file: one block, as the data-generation workflow writes them.
INVENTORY_ROWS_PER_FILE = BLOCK

REALISTIC_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_LAYOUT_CODE = {"seed": 1, "realistic": 2}
_SEED_DATE_FIRST = np.datetime64("2015-01-01")
_SEED_DATE_LAST = np.datetime64("2024-12-31")


class GeneratorError(MontemapError):
    """A portfolio that cannot be generated or written (bad parameters, occupied target)."""


# --------------------------------------------------------------------------- destination


@dataclass(frozen=True)
class Destination:
    """Where a portfolio goes: a bucket of an object store and a key prefix ("" or "p/")."""

    store: ObjectStore
    bucket: str = SOURCE_BUCKET
    prefix: str = ""

    def __post_init__(self) -> None:
        try:
            validate_bucket(self.bucket)
            if self.prefix:
                if not self.prefix.endswith("/"):
                    raise GeneratorError(f"key prefix {self.prefix!r} must end with '/'")
                validate_key(self.prefix.rstrip("/"))
        except ObjectStoreError as exc:
            raise GeneratorError(str(exc)) from None

    @property
    def manifest_key(self) -> str:
        return self.prefix + INVENTORY_PREFIX + MANIFEST_NAME

    def describe(self) -> str:
        if isinstance(self.store, LocalObjectStore):
            return str(Path(self.store.root) / self.bucket / self.prefix)
        return f"s3://{self.bucket}/{self.prefix}"


def local_destination(data_dir: str | os.PathLike[str], *, prefix: str = "") -> Destination:
    """The default destination: bucket ``montemap-source`` under ``<data_dir>/buckets``."""
    return Destination(LocalObjectStore(Path(data_dir) / "buckets"), SOURCE_BUCKET, prefix)


def data_key_width(loans: int) -> int:
    """Digits in the object number: six, more when ``loans`` needs them."""
    return max(6, len(str(loans)))


def data_key(number: int, loans: int, prefix: str = "") -> str:
    """Key of loan ``number`` (1-based) in a portfolio of ``loans`` loans."""
    return f"{prefix}{DATA_PREFIX}data-gen-{number:0{data_key_width(loans)}d}.csv"


# --------------------------------------------------------------------------- writer


@dataclass(frozen=True)
class InventoryFile:
    """One gzip CSV inventory file as the manifest lists it."""

    key: str
    size: int
    md5: str
    rows: int


@dataclass
class WriteResult:
    """What a finished portfolio write produced."""

    destination: str
    bucket: str
    manifest_key: str
    loans: int
    data_bytes: int
    columns: list[str]
    inventory_files: list[InventoryFile] = field(default_factory=list)


class PortfolioWriter:
    """Writes loan rows as one object each, streaming their S3 Inventory as it goes.

    Rows arrive in chunks (:meth:`write`, a string array of CSV data rows, in loan order);
    memory holds one chunk and one inventory file at a time. :meth:`close` writes the
    manifest; leaving the ``with`` block on an exception writes no manifest.
    """

    def __init__(
        self,
        destination: Destination,
        *,
        loans: int,
        columns: Sequence[str],
        created: dt.datetime,
        replace: bool = False,
        rows_per_inventory_file: int = INVENTORY_ROWS_PER_FILE,
        threads: int = 8,
    ) -> None:
        if loans < 1:
            raise GeneratorError(f"a portfolio needs at least one loan, got {loans}")
        if rows_per_inventory_file < 1:
            raise GeneratorError("rows_per_inventory_file must be at least 1")
        self.dest = destination
        self.loans = loans
        self.columns = list(columns)
        self.created = created
        self.rows_per_file = rows_per_inventory_file
        self.threads = threads
        self._header = ",".join(self.columns)
        self._written = 0
        self._data_bytes = 0
        self._files: list[InventoryFile] = []
        self._inv_buffer = io.BytesIO()
        self._inv_gzip: gzip.GzipFile | None = None
        self._inv_rows = 0
        self._pool: ThreadPoolExecutor | None = None
        self._local_dir_fd: int | None = None
        self._result: WriteResult | None = None
        self._prepare(replace)

    # -- setup
    def _local_bucket_dir(self) -> Path | None:
        store = self.dest.store
        if isinstance(store, LocalObjectStore):
            return Path(store.root) / self.dest.bucket
        return None

    def _prepare(self, replace: bool) -> None:
        store, bucket, prefix = self.dest.store, self.dest.bucket, self.dest.prefix
        try:
            store.create_bucket(bucket)
            occupied = [
                p
                for p in (prefix + DATA_PREFIX, prefix + INVENTORY_PREFIX)
                if store.list_page(bucket, p, max_keys=1).objects
            ]
        except ObjectStoreError as exc:
            raise GeneratorError(f"cannot use {self.dest.describe()}: {exc}") from None
        if occupied and not replace:
            raise GeneratorError(
                f"{self.dest.describe()} already holds a portfolio (objects under "
                f"{', '.join(occupied)}); remove it or pass --force to replace it"
            )
        local = self._local_bucket_dir()
        try:
            for p in occupied:
                if local is not None:
                    shutil.rmtree(local / p)
                else:
                    self._delete_prefix(p)
            if local is not None:
                data_dir = local / prefix / DATA_PREFIX
                data_dir.mkdir(parents=True, exist_ok=True)
                self._local_dir_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        except (OSError, ObjectStoreError) as exc:
            raise GeneratorError(f"cannot prepare {self.dest.describe()}: {_reason(exc)}") from None
        if local is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads)

    def _delete_prefix(self, prefix: str) -> None:
        store, bucket = self.dest.store, self.dest.bucket
        while True:
            page = store.list_page(bucket, prefix, max_keys=1000)
            if not page.objects:
                return
            for obj in page.objects:
                store.delete(bucket, obj.key)

    # -- context manager
    def __enter__(self) -> PortfolioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self._result is None:
            self.close()
        else:
            self._release()

    def _release(self) -> None:
        if self._local_dir_fd is not None:
            os.close(self._local_dir_fd)
            self._local_dir_fd = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._inv_gzip is not None:
            self._inv_gzip.close()
            self._inv_gzip = None

    # -- writing
    def write(self, rows: pa.Array) -> None:
        """Write the next loans; ``rows`` holds one CSV data row (no newline) per loan."""
        n = len(rows)
        if self._written + n > self.loans:
            raise GeneratorError(
                f"more rows than the {self.loans} loans announced ({self._written + n})"
            )
        if n == 0:
            return
        contents = pc.binary_join_element_wise(self._header, rows, "", "\n")
        data, offsets = _string_buffers(contents)
        sizes = np.diff(offsets)
        first = self._written + 1
        width = data_key_width(self.loans)
        names = [f"data-gen-{i:0{width}d}.csv" for i in range(first, first + n)]
        self._write_objects(names, data, offsets.tolist())
        self._write_inventory(names, sizes)
        self._written += n
        self._data_bytes += int(sizes.sum())

    def _write_objects(self, names: list[str], data: memoryview, offsets: list[int]) -> None:
        if self._local_dir_fd is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            dfd = self._local_dir_fd
            name = ""
            try:
                for i, name in enumerate(names):
                    fd = os.open(name, flags, 0o644, dir_fd=dfd)
                    try:
                        os.write(fd, data[offsets[i] : offsets[i + 1]])
                    finally:
                        os.close(fd)
            except OSError as exc:
                raise GeneratorError(
                    f"writing {self.dest.describe()}/{DATA_PREFIX}{name}: {_reason(exc)}"
                ) from None
            return
        assert self._pool is not None
        store, bucket = self.dest.store, self.dest.bucket
        base = self.dest.prefix + DATA_PREFIX

        def put(i: int) -> str:
            return store.put(bucket, base + names[i], bytes(data[offsets[i] : offsets[i + 1]]))

        step = 1024
        try:
            for lo in range(0, len(names), step):
                list(self._pool.map(put, range(lo, min(lo + step, len(names)))))
        except ObjectStoreError as exc:
            raise GeneratorError(f"writing loan objects to {self.dest.describe()}: {exc}")

    def _write_inventory(self, names: list[str], sizes: np.ndarray) -> None:
        quoted_bucket = self.dest.bucket.replace('"', '""')
        key_base = urllib.parse.quote(self.dest.prefix + DATA_PREFIX, safe="/")
        lines = pc.binary_join_element_wise(
            f'"{quoted_bucket}","{key_base}',
            pa.array(names, pa.string()),
            '","',
            pa.array(sizes).cast(pa.string()),
            '"\n',
            "",
        )
        start = 0
        while start < len(lines):
            if self._inv_gzip is None:
                self._inv_buffer = io.BytesIO()
                self._inv_gzip = gzip.GzipFile(
                    fileobj=self._inv_buffer, mode="wb", compresslevel=6, mtime=0
                )
                self._inv_rows = 0
            take = min(self.rows_per_file - self._inv_rows, len(lines) - start)
            data, offsets = _string_buffers(lines.slice(start, take))
            self._inv_gzip.write(data[offsets[0] : offsets[-1]])
            self._inv_rows += take
            start += take
            if self._inv_rows == self.rows_per_file:
                self._flush_inventory()

    def _flush_inventory(self) -> None:
        if self._inv_gzip is None:
            return
        self._inv_gzip.close()
        self._inv_gzip = None
        body = self._inv_buffer.getvalue()
        key = f"{self.dest.prefix}{INVENTORY_PREFIX}loans-{len(self._files):05d}.csv.gz"
        self._put(key, body)
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        self._files.append(InventoryFile(key, len(body), md5, self._inv_rows))

    def _put(self, key: str, body: bytes) -> None:
        try:
            self.dest.store.put(self.dest.bucket, key, body)
        except (OSError, ObjectStoreError) as exc:
            raise GeneratorError(f"writing {key} to {self.dest.describe()}: {_reason(exc)}")

    def close(self) -> WriteResult:
        """Finish the inventory and write the manifest; the portfolio is then complete."""
        if self._result is not None:
            return self._result
        try:
            if self._written != self.loans:
                raise GeneratorError(
                    f"the portfolio announced {self.loans} loans but {self._written} were written"
                )
            self._flush_inventory()
            manifest = inventory_manifest(self.dest.bucket, self._files, self.created)
            self._put(self.dest.manifest_key, manifest)
            checksum = hashlib.md5(manifest, usedforsecurity=False).hexdigest()
            self._put(
                self.dest.prefix + INVENTORY_PREFIX + "manifest.checksum",
                checksum.encode() + b"\n",
            )
        finally:
            self._release()
        self._result = WriteResult(
            destination=self.dest.describe(),
            bucket=self.dest.bucket,
            manifest_key=self.dest.manifest_key,
            loans=self._written,
            data_bytes=self._data_bytes,
            columns=self.columns,
            inventory_files=list(self._files),
        )
        return self._result


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def inventory_manifest(bucket: str, files: Sequence[InventoryFile], created: dt.datetime) -> bytes:
    """An S3 Inventory ``manifest.json`` (CSV, schema ``Bucket, Key, Size``) as bytes."""
    stamp = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    doc = {
        "sourceBucket": bucket,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(stamp.timestamp() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": [{"key": f.key, "size": f.size, "MD5checksum": f.md5} for f in files],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def _string_buffers(arr: pa.Array) -> tuple[memoryview, np.ndarray]:
    """The data buffer of a string array and its offsets (int64, ``len(arr) + 1`` values)."""
    off_type = np.dtype(np.int64) if arr.type == pa.large_string() else np.dtype(np.int32)
    bufs = arr.buffers()
    width = off_type.itemsize
    offsets = np.frombuffer(
        bufs[1], dtype=off_type, count=len(arr) + 1, offset=arr.offset * width
    ).astype(np.int64)
    data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
    return data, offsets


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

    secured = np.select(
        [commercial, mortgage], [rng.random(n) < 0.85, np.ones(n, bool)], rng.random(n) < 0.35
    )
    ltv = np.select(
        [commercial, mortgage],
        [rng.uniform(0.45, 0.80, n), rng.uniform(0.55, 0.97, n)],
        rng.uniform(0.70, 1.20, n),
    )
    collateral = np.where(secured, amount / ltv, 0.0).round()

    # seasoning: most loans part-way through their term, about 2.5% already matured
    matured = rng.random(n) < 0.025
    frac = rng.beta(1.1, 1.8, n)
    live_months = np.floor(frac * np.minimum(term - 1, 180)).astype(np.int64)
    elapsed = np.where(matured, term + rng.integers(0, 25, n), live_months)
    month_index = as_of.year * 12 + (as_of.month - 1) - elapsed
    year = month_index // 12
    month = month_index % 12 + 1
    day = rng.integers(1, 29, n)
    day = np.where(elapsed == 0, np.minimum(day, as_of.day), day)
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
