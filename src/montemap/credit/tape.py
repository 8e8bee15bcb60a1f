"""Loan-tape import: a CSV or Parquet file of loans, one row each, split into the layout.

The tape is read twice, streaming, in chunks: the first pass checks its structure
(required columns, every CSV row with the header's field count, unique non-empty
AccountIDs) and its values (numbers that parse and lie in the ranges the simulation
accepts, :data:`montemap.credit.loans.RANGES`; MM/DD/YYYY or ISO dates that a calendar has;
ZIP codes;
LoanType and RateType among their options); the second
writes one object per loan plus the S3 Inventory through
:class:`~montemap.credit.portfolio.PortfolioWriter`. Structural problems stop the import
before anything is written, with the file, line or row, and column named. Value problems
(:mod:`montemap.credit.tape_checks`) are reported in line order (``strict`` makes the
first one fatal); otherwise the loans are written as they are,
so the simulation's rejects output lists them with their key and reason instead of
silently losing them. Loan ``i`` (1-based, in tape order) becomes
``data/data-gen-00000i.csv``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import gzip
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from montemap.credit.columns import OPTIONAL_COLUMNS, OVERRIDE_COLUMNS, REQUIRED_COLUMNS
from montemap.credit.generator import BLOCK, join_columns
from montemap.credit.portfolio import (
    INVENTORY_ROWS_PER_FILE,
    Destination,
    PortfolioWriter,
    WriteResult,
)
from montemap.credit.quality import MAX_LISTED
from montemap.credit.tape_checks import Batch, first_issues
from montemap.errors import MontemapError

KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + OVERRIDE_COLUMNS
_ISO_DATE_RE = r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$"
_NEEDS_QUOTES_RE = r'[,"\r\n]'
MAX_ISSUES_KEPT = 20
#: Bytes that make a CSV tape's lines not plain (quote, CR, NUL): read row by row.
_NOT_PLAIN = np.array([0x22, 0x0D, 0x00], dtype=np.uint8)
_SCAN_BYTES = 1 << 24
#: The longest line (newline included) the vectorised reader is given: its blocks are
#: 4 MB, and Arrow refuses a row longer than a block ("straddling object straddles two
#: block boundaries"). A longer line is read row by row (a loan object is at most 1 MB).
_MAX_PLAIN_LINE = 1 << 20


class TapeError(MontemapError):
    """A tape that cannot be imported: unreadable, or missing what every loan needs."""


@dataclass
class ImportResult:
    """What an import wrote, and the value problems it found (the first few)."""

    source: str
    format: str
    write: WriteResult
    ignored_columns: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    issue_count: int = 0


# --------------------------------------------------------------------------- sources


def _canonical(name: str) -> str:
    stripped = name.strip()
    for known in KNOWN_COLUMNS:
        if stripped.lower() == known.lower():
            return known
    return stripped


def _check_header(path: Path, names: list[str]) -> tuple[dict[str, int], list[str]]:
    """Map canonical column -> position; the columns it ignores; errors for the rest."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for i, raw in enumerate(names):
        name = _canonical(raw)
        if name in positions:
            raise TapeError(f"{path}: column {name!r} appears twice in the header")
        if name in KNOWN_COLUMNS:
            positions[name] = i
        elif name:
            ignored.append(name)
    missing = [c for c in REQUIRED_COLUMNS if c not in positions]
    if missing:
        raise TapeError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the header has: {', '.join(n.strip() for n in names)})"
            + _separator_hint(names)
        )
    return positions, ignored


def _separator_hint(names: list[str]) -> str:
    """Where a header is one field holding another separator, say so."""
    if len(names) != 1:
        return ""
    for separator, called in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
        if names[0].count(separator) >= len(REQUIRED_COLUMNS) - 1:
            return f": its fields are separated by {called}; a CSV tape's by commas"
    return ""


class _CsvTape:
    """A CSV tape (optionally gzip-compressed), UTF-8, with a header row."""

    format = "CSV"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        with self._open() as f:
            try:
                header = next(csv.reader(f), None)
            except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
                raise TapeError(
                    f"{path}: cannot read the header row: {describe_read_error(exc)}"
                ) from None
        if not header or not any(h.strip() for h in header):
            raise TapeError(f"{path}: the file is empty (no header row)")
        self.width = len(header)
        self.positions, self.ignored = _check_header(path, header)
        self.plain: bool | None = None

    def _open_binary(self) -> contextlib.AbstractContextManager[BinaryIO]:
        return open_csv_binary(self.path)

    def _open(self) -> contextlib.AbstractContextManager[Iterator[str]]:
        return csv_lines(self.path)

    def batches(self) -> Iterator[Batch]:
        if self.plain is None:
            self.plain = self._is_plain()
        if self.plain:
            yield from self._arrow_batches()
            return
        with self._open() as f:
            reader = csv.reader(f)
            rows: list[list[str]] = []
            lines: list[int] = []
            broken: TapeError | None = None
            try:
                next(reader)
                for row in reader:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # blank line
                    if len(row) != self.width:
                        broken = TapeError(
                            f"{self.path}: line {reader.line_num}: {len(row)} fields, "
                            f"but the header has {self.width}"
                        )
                        break
                    rows.append(row)
                    lines.append(reader.line_num)
                    if len(rows) == self.chunk_rows:
                        yield self._batch(rows, lines)
                        rows, lines = [], []
            except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
                # the csv module has counted the line it refuses; a line that could not
                # be read or decoded is the one after those it counted
                line = reader.line_num + (not isinstance(exc, csv.Error))
                broken = TapeError(f"{self.path}: line {line}: {describe_read_error(exc)}")
            if rows:  # the rows above a broken line first: their problems come before it
                yield self._batch(rows, lines)
            if broken is not None:
                raise broken

    def _is_plain(self) -> bool:
        """Whether every data line is plain: UTF-8 without quotes, carriage returns, NUL
        bytes or blank lines, each with the header's field count. Then data row ``i`` is on
        line ``i + 2`` and a vectorised reader splits it exactly as the csv module does;
        other tapes are read row by row (which also reports their problems)."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with self._open_binary() as f:
                f.readline()  # the header, read by the csv module
                carry = b""
                while chunk := f.read(_SCAN_BYTES):
                    decoder.decode(chunk)
                    buf = carry + chunk
                    cut = buf.rfind(b"\n") + 1
                    if not _plain_lines(buf[:cut], self.width):
                        return False
                    carry = buf[cut:]
                decoder.decode(b"", final=True)
        except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile):
            return False
        return _plain_lines(carry + b"\n", self.width) if carry else True

    def _arrow_batches(self) -> Iterator[Batch]:
        """Batches of ``chunk_rows`` rows from Arrow's CSV reader (plain tapes only)."""
        names = [f"c{i}" for i in range(self.width)]
        pending: list[pa.RecordBatch] = []
        first = 0
        with self._open_binary() as f:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=1, use_threads=False, block_size=1 << 22
                ),
                parse_options=pacsv.ParseOptions(
                    quote_char=False, double_quote=False, escape_char=False
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            done = False
            while not done:
                try:
                    pending.append(reader.read_next_batch())
                except StopIteration:
                    done = True
                rows = sum(b.num_rows for b in pending)
                while rows >= self.chunk_rows or (done and rows):
                    table = pa.Table.from_batches(pending)
                    take = min(rows, self.chunk_rows)
                    chunk, rest = table.slice(0, take), table.slice(take)
                    pending = rest.to_batches()
                    rows -= take
                    cols = {
                        name: _normalise(name, chunk.column(pos).combine_chunks())
                        for name, pos in self.positions.items()
                    }
                    yield Batch(cols, lambda i, s=first: f"line {s + i + 2}")  # type: ignore[misc]
                    first += take

    def _batch(self, rows: list[list[str]], lines: list[int]) -> Batch:
        cols = {
            name: _normalise(name, pa.array([r[pos] for r in rows], pa.string()))
            for name, pos in self.positions.items()
        }
        frozen = list(lines)
        return Batch(cols, lambda i: f"line {frozen[i]}")


class _ParquetTape:
    """A Parquet tape; values of any type become the strings the loan objects hold."""

    format = "Parquet"

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.chunk_rows = chunk_rows
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise TapeError(f"{path}: not a readable Parquet file: {exc}") from None
        names = list(self.file.schema_arrow.names)
        self.positions, self.ignored = _check_header(path, names)
        self.names = {name: names[pos] for name, pos in self.positions.items()}

    def close(self) -> None:
        self.file.close()

    def batches(self) -> Iterator[Batch]:
        first = 0
        try:
            for rb in self.file.iter_batches(
                batch_size=self.chunk_rows, columns=list(self.names.values())
            ):
                cols = {
                    name: _normalise(name, _to_strings(rb.column(src), name, self.path))
                    for name, src in self.names.items()
                }
                start = first
                yield Batch(cols, lambda i, s=start: f"row {s + i + 1}")  # type: ignore[misc]
                first += rb.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise TapeError(f"{self.path}: cannot read row group data: {exc}") from None


@contextlib.contextmanager
def open_csv_binary(path: Path) -> Iterator[BinaryIO]:
    """A CSV tape's bytes, gunzipped where the file is gzip-compressed (by its magic)."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if compressed else open(path, "rb") as binary:
        yield cast(BinaryIO, binary)


@contextlib.contextmanager
def csv_lines(path: Path) -> Iterator[Iterator[str]]:
    """A CSV tape's lines (``import`` and ``simulate --loans`` read them alike), decoded one
    by one so a bad byte is reported on its line; a gzip-compressed tape's too."""
    with open_csv_binary(path) as binary:
        yield _decoded_lines(binary)


def is_parquet(path: Path) -> bool:
    """Whether the tape at ``path`` is read as Parquet: its magic, or its name's suffix."""
    with open(path, "rb") as f:
        magic = f.read(4)
    return magic == b"PAR1" or path.suffix.lower() in (".parquet", ".pq")


def _plain_lines(buf: bytes, width: int) -> bool:
    """Complete lines without quotes, CR or NUL, none blank, each with ``width`` fields
    and none longer than ``_MAX_PLAIN_LINE``."""
    if not buf:
        return True
    arr = np.frombuffer(buf, dtype=np.uint8)
    if np.isin(arr, _NOT_PLAIN).any():
        return False
    ends = np.flatnonzero(arr == 10)
    sizes = np.diff(ends)
    if ends[0] == 0 or (sizes == 1).any():
        return False
    if ends[0] >= _MAX_PLAIN_LINE or (sizes.size and int(sizes.max()) > _MAX_PLAIN_LINE):
        return False
    commas = np.bincount(np.searchsorted(ends, np.flatnonzero(arr == 44)), minlength=len(ends))
    return bool((commas == width - 1).all())


def _decoded_lines(binary: Iterable[bytes]) -> Iterator[str]:
    for number, line in enumerate(binary):
        if number == 0 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        yield line.decode("utf-8")


def _to_strings(arr: pa.Array, name: str, path: Path) -> pa.Array:
    t = arr.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        out = pc.strftime(arr, format="%m/%d/%Y")
    elif pa.types.is_dictionary(t):
        out = arr.cast(t.value_type).cast(pa.string())
    elif (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
    ):
        out = arr.cast(pa.string())
    else:
        raise TapeError(f"{path}: column {name!r} has type {t}, which a loan value cannot be")
    return out.fill_null("")


def _normalise(name: str, arr: pa.Array) -> pa.Array:
    """Trimmed strings; ISO dates as MM/DD/YYYY; ZIP codes keep five digits."""
    out = pc.utf8_trim_whitespace(arr.cast(pa.string()).fill_null(""))
    if name == "OriginationDate":
        out = pc.replace_substring_regex(out, _ISO_DATE_RE, r"\2/\3/\1")
    elif name == "ZipCode":
        short = pc.and_(
            pc.match_substring_regex(out, r"^[0-9]{1,4}$"), pc.invert(pc.equal(out, ""))
        )
        out = pc.if_else(short, pc.utf8_lpad(out, 5, padding="0"), out)
    return out


def _csv_field(arr: pa.Array) -> pa.Array:
    """Quote the values that need it in a one-row CSV."""
    needs = pc.match_substring_regex(arr, _NEEDS_QUOTES_RE)
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)


def describe_read_error(exc: BaseException) -> str:
    """Why a CSV tape's line could not be read, in one line (``simulate --loans`` says
    it the same way as ``import``)."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text (is it a binary file? Parquet tapes must be valid Parquet)"
    if isinstance(exc, csv.Error) and "new-line character seen in unquoted" in str(exc):
        return (
            "a carriage return ends a line (classic Mac line ends): save the tape with "
            "LF or CRLF line ends"
        )
    if isinstance(exc, csv.Error) and "field larger than field limit" in str(exc):
        return f"a field is longer than {csv.field_size_limit():,} characters"
    return str(exc) or type(exc).__name__


def _open_tape(path: Path, chunk_rows: int) -> _CsvTape | _ParquetTape:
    if not path.exists():
        raise TapeError(f"{path}: no such file")
    if not path.is_file():
        raise TapeError(f"{path}: not a file")
    try:
        parquet = is_parquet(path)
    except OSError as exc:
        raise TapeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if parquet:
        return _ParquetTape(path, chunk_rows)
    return _CsvTape(path, chunk_rows)


# --------------------------------------------------------------------------- import


def import_tape(
    path: str | os.PathLike[str],
    destination: Destination,
    *,
    as_of: dt.date | None = None,
    replace: bool = False,
    strict: bool = False,
    chunk_rows: int = BLOCK,
    rows_per_inventory_file: int = INVENTORY_ROWS_PER_FILE,
) -> ImportResult:
    """Split the tape at ``path`` into one object per loan plus its S3 Inventory.

    ``as_of`` (default today, UTC) is the inventory's creation timestamp.
    """
    tape_path = Path(path)
    tape = _open_tape(tape_path, chunk_rows)
    try:
        loans, issues, issue_count = _scan(tape, strict)
        if loans == 0:
            raise TapeError(f"{tape_path}: the tape has a header but no loans")
        columns = [c for c in KNOWN_COLUMNS if c in tape.positions]
        day = as_of or dt.datetime.now(dt.UTC).date()
        created = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        with PortfolioWriter(
            destination,
            loans=loans,
            columns=columns,
            created=created,
            replace=replace,
            rows_per_inventory_file=rows_per_inventory_file,
        ) as writer:
            for batch in tape.batches():
                writer.write(join_columns([_csv_field(batch.columns[c]) for c in columns]))
            result = writer.close()
    finally:
        if isinstance(tape, _ParquetTape):
            tape.close()
    return ImportResult(
        source=str(tape_path),
        format=tape.format,
        write=result,
        ignored_columns=tape.ignored,
        issues=issues,
        issue_count=issue_count,
    )


def _scan(tape: _CsvTape | _ParquetTape, strict: bool) -> tuple[int, list[str], int]:
    """First pass: count loans, collect value issues, check AccountIDs are unique."""
    loans = 0
    issues: list[str] = []
    count = 0
    ids: list[pa.Array] = []
    for batch in tape.batches():
        kept, found = first_issues(batch, 1 if strict else MAX_ISSUES_KEPT - len(issues))
        if strict and kept:
            raise TapeError(f"{tape.path}: {kept[0]}")
        count += found
        issues.extend(kept)
        ids.append(_account_keys(batch.columns["AccountID"]))
        loans += len(batch.columns["AccountID"])
    if ids:
        counts = pc.value_counts(pa.chunked_array(ids, pa.string()))
        repeated = pc.filter(
            counts.field("values"),
            pc.and_(
                pc.greater(counts.field("counts"), 1), pc.not_equal(counts.field("values"), "")
            ),
        )
        if len(repeated):
            _raise_repeated(tape, [v.as_py() for v in repeated[:MAX_LISTED]], len(repeated))
    return loans, issues, count


def _account_keys(ids: pa.Array) -> pa.Array:
    """AccountIDs as the simulation reads them, to find repeats: digits without their
    leading zeros (``01001`` is account 1001, as ``1001`` is); other values as they are
    (the value checks report them)."""
    digits = pc.match_substring_regex(ids, r"^[0-9]+$")
    trimmed = pc.utf8_ltrim(ids, characters="0")
    trimmed = pc.if_else(pc.equal(trimmed, ""), "0", trimmed)
    return pc.if_else(digits, trimmed, ids)


def _raise_repeated(tape: _CsvTape | _ParquetTape, accounts: list[str], total: int) -> None:
    """Refuse the tape, naming the first few repeated AccountIDs and two rows of each."""
    where: dict[str, list[str]] = {a: [] for a in accounts}
    for batch in tape.batches():
        ids = _account_keys(batch.columns["AccountID"])
        for account in accounts:
            if len(where[account]) < 2:
                hits = np.flatnonzero(pc.equal(ids, account).to_numpy(False))
                where[account].extend(batch.where(int(i)) for i in hits[:2])
        if all(len(w) >= 2 for w in where.values()):
            break
    listed = ", ".join(f"{a!r} ({' and '.join(where[a][:2])})" for a in accounts)
    more = f" and {total - len(accounts)} more" if total > len(accounts) else ""
    raise TapeError(
        f"{tape.path}: AccountID {listed}{more} appear{'s' if total == 1 else ''} more than "
        "once; every loan needs its own AccountID"
    )
