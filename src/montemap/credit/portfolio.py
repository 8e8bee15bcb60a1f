"""Writing a loan portfolio in the original layout: one CSV object per loan plus its S3
Inventory.

A portfolio lives in a *source bucket* (locally ``<data-dir>/buckets/montemap-source``):

* ``data/data-gen-000001.csv`` ... one object per loan, a header row and one data row
  (six digits, more when there are over 999,999 loans);
* ``inventory/loans-00000.csv.gz`` ... the S3 Inventory of those objects: gzip CSV rows
  ``"Bucket","Key","Size"`` without a header, as S3 Inventory writes them;
* ``inventory/manifest.json`` (and ``manifest.checksum``), the inventory manifest that a
  Distributed Map's ``ItemReader`` (``InputType: MANIFEST``) reads.

:class:`Destination` says where (a bucket of an object store and a key prefix) and
:class:`PortfolioWriter` writes any stream of loan rows there: the generator
(:mod:`montemap.credit.generator`) and the tape import (:mod:`montemap.credit.tape`).
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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from montemap.credit.portfolio_lock import PortfolioBusy, PortfolioLock
from montemap.errors import MontemapError
from montemap.storage import (
    LocalObjectStore,
    ObjectStore,
    ObjectStoreError,
    validate_bucket,
    validate_key,
)

SOURCE_BUCKET = "montemap-source"
DATA_PREFIX = "data/"
INVENTORY_PREFIX = "inventory/"
MANIFEST_NAME = "manifest.json"
#: Rows per inventory file: one generator block (``generator.BLOCK``), as the
#: data-generation workflow writes them.
INVENTORY_ROWS_PER_FILE = 65_536


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
        self._fresh = False
        self._lock = self._lock_local()
        try:
            self._prepare(replace)
        except BaseException:
            self._release()
            self._unlock()
            raise

    # -- setup
    def _local_bucket_dir(self) -> Path | None:
        store = self.dest.store
        if isinstance(store, LocalObjectStore):
            return Path(store.root) / self.dest.bucket
        return None

    def _lock_local(self) -> PortfolioLock | None:
        """The data directory's portfolio lock, exclusive (``portfolio_lock``): refused while
        a run reads the portfolio there, or another write is under way."""
        store = self.dest.store
        if not isinstance(store, LocalObjectStore):
            return None
        data_dir = Path(store.root).parent
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            return PortfolioLock(data_dir, write=True)
        except PortfolioBusy as exc:
            raise GeneratorError(str(exc)) from None
        except OSError as exc:
            raise GeneratorError(f"cannot use {self.dest.describe()}: {_reason(exc)}") from None

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _prepare(self, replace: bool) -> None:
        store, bucket, prefix = self.dest.store, self.dest.bucket, self.dest.prefix
        try:
            store.create_bucket(bucket)
            occupied = [
                p
                for p in (prefix + DATA_PREFIX, prefix + INVENTORY_PREFIX)
                if store.list_keys_page(bucket, p, max_keys=1).keys
            ]
        except ObjectStoreError as exc:
            raise GeneratorError(f"cannot use {self.dest.describe()}: {exc}") from None
        self._fresh = not occupied
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
                _check_room(local, self.loans)
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
            page = store.list_keys_page(bucket, prefix, max_keys=1000)
            if not page.keys:
                return
            for key in page.keys:
                store.delete(bucket, key)

    # -- context manager
    def __enter__(self) -> PortfolioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None and self._result is None:
                self.close()
                return
            self._release()
            if exc_type is not None and self._result is None:
                self._remove_partial()
        finally:
            self._unlock()

    def _remove_partial(self) -> None:
        """After a failed or interrupted write into a destination that was empty: remove the
        objects this writer wrote, so that the next ``generate``/``import``/``run`` finds
        it empty again rather than an incomplete portfolio it refuses to write over. (What
        was there before a ``replace`` is gone either way; an S3 destination is left as it
        is: deleting object by object could take longer than the write did.)"""
        local = self._local_bucket_dir()
        if not self._fresh or local is None:
            return
        for p in (DATA_PREFIX, INVENTORY_PREFIX):
            shutil.rmtree(local / self.dest.prefix / p, ignore_errors=True)

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
            self._unlock()
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


def _check_room(bucket_dir: Path, loans: int) -> None:
    """Refuse a portfolio that cannot fit on the file system of ``bucket_dir``: each loan
    is a file of its own (an inode, and at least one block), so a mistyped ``--loans``
    would otherwise fill the disk before failing."""
    stat = os.statvfs(bucket_dir)
    block = max(stat.f_frsize, 512)
    needed = loans * block
    free = stat.f_bavail * stat.f_frsize
    where = f"{bucket_dir} (its file system)"
    if needed > free:
        raise GeneratorError(
            f"{loans:,} loans need about {needed / 1e9:,.1f} GB (one {block:,}-byte block per "
            f"loan object) but {where} has {free / 1e9:,.1f} GB free"
        )
    if stat.f_files and loans > stat.f_favail:
        raise GeneratorError(
            f"{loans:,} loans need {loans:,} files (one per loan object) but {where} has "
            f"room for {stat.f_favail:,} more"
        )


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
