"""The rows of an S3 Inventory's CSV files, taken many plain lines at a time.

An inventory file is mostly *plain* lines: every field quoted, printable ASCII
with no quote or backslash, as many fields as the ``fileSchema`` has columns,
ending in ``\\n`` or ``\\r\\n``. One regular expression finds a run of such lines in the
decoded text; their fields are split out at once, their objects built in one
comprehension (:func:`~montemap.engine.row_maker.rows_maker`), and an
``ItemBatcher`` taking a chunk of them (:meth:`InventoryRows.take`) gets the
chunk's JSON text formatted from the fields into the template that
:func:`~montemap.engine.batch_text.chunk_text` would use, without looking at the
objects again. Every other line (other quoting, escapes, non-ASCII, blank,
a lone ``\\r``, a field count that is not the schema's) is read by ``csv.reader``,
as before. The text is read and decoded as ``io.TextIOWrapper`` reads it
(:class:`~montemap.engine.decoded_lines.DecodedLines`), so rows, texts and
errors, and the rows before an error, are those of reading line by line.
"""

from __future__ import annotations

import csv
import functools
import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from montemap.engine.batch_text import templated, values_text
from montemap.engine.decoded_lines import DecodedLines
from montemap.engine.item_chunks import Chunk
from montemap.engine.reader_config import reader_failure
from montemap.engine.reader_streams import failure_for, maybe_gunzip, open_object
from montemap.engine.row_maker import row_maker, rows_maker
from montemap.errors import StatesError
from montemap.storage.base import ObjectStore, ObjectStoreError

__all__ = ["Files", "InventoryRows", "file_pieces", "plain_lines"]

#: One file's rows, a piece at a time: a plain run's fields, or one row's object.
Piece = list[str] | dict[str, str]
#: The schema of an inventory, and its files' pieces, a file after another.
Files = tuple[tuple[str, ...], Iterator[Iterator[Piece]]]

#: The bytes that are not in a plain field: the control characters, DEL and the backslash.
_NOT_PLAIN = bytes(range(32)) + b"\x7f\\"
#: A plain field's characters: printable ASCII but the quote and the backslash.
_FIELD = r'"[ !#-\[\]-~]*+"'


def plain_lines(width: int) -> re.Pattern[str]:
    """The pattern of a run of plain lines of ``width`` fields (possibly none)."""
    line = _FIELD + f",{_FIELD}" * (width - 1) + "\r?\n"
    return re.compile(f"(?:{line})*+")  # possessive: no line is given back


class InventoryRows(Iterator[dict[str, str]]):
    """The rows of the files that ``open_files`` gives (called at the first row asked for:
    the schema, and a :func:`file_pieces` generator per file), at most ``limit`` of them:
    one at a time, or :meth:`take` many with their text."""

    def __init__(self, open_files: Callable[[], Files], limit: int | None) -> None:
        self._open_files: Callable[[], Files] | None = open_files
        self._files: Iterator[Iterator[Piece]] = iter(())
        self._pieces: Iterator[Piece] = iter(())
        self._schema: tuple[str, ...] = ()
        self._make = rows_maker(())
        self._left = limit  # rows still to give; None: no limit
        self._fields: list[str] = []  # the current plain run's fields
        self._at = 0  # the first of them not given yet
        self.plain_rows = 0  # rows given from plain runs (for tests)

    def __next__(self) -> dict[str, str]:
        items, _, error = self.take(1, with_text=False)
        if error is not None:
            raise error
        if not items:
            raise StopIteration
        first: dict[str, str] = items[0]
        return first

    def take(self, count: int, *, with_text: bool = True) -> Chunk:
        """Up to ``count`` rows (fewer once the rows end or fail), their JSON text when all
        came from plain runs (and ``with_text``), and the exception that ended them early."""
        if self._left is not None:
            count = min(count, self._left)
        items: list[Any] = []
        values: list[str] = []  # the plain rows' fields, while all rows are plain
        plain = with_text
        error: Exception | None = None
        while len(items) < count:
            if self._at < len(self._fields):
                width = len(self._schema)
                n = min(count - len(items), (len(self._fields) - self._at) // width)
                fields = self._fields[self._at : self._at + n * width]
                self._at += n * width
                items += self._make(fields)
                self.plain_rows += n
                if plain:
                    values += fields
                continue
            try:
                piece = self._next_piece()
            except StopIteration:
                break
            except Exception as exc:  # ends the rows; raised once they are placed
                error = exc
                break
            if isinstance(piece, dict):
                items.append(piece)
                plain = False
            else:
                self._fields, self._at = piece, 0
        if self._left is not None:
            self._left -= len(items)
        text = None
        if plain and items:
            text = values_text(self._schema, values)
        return items, text, error

    def _next_piece(self) -> Piece:
        if self._open_files is not None:
            opened, self._open_files = self._open_files, None
            self._schema, self._files = opened()
            self._make = rows_maker(self._schema)
        while True:
            try:
                return next(self._pieces)
            except StopIteration:
                self._pieces = next(self._files)  # StopIteration: no file left


def file_pieces(
    store: ObjectStore, bucket: str, key: str, schema: tuple[str, ...]
) -> Iterator[Piece]:
    """One inventory file's rows: plain runs (their fields) and single rows (objects)."""
    where = f"s3://{bucket}/{key}"
    with open_object(store, bucket, key) as raw, maybe_gunzip(raw) as unzipped:
        lines = DecodedLines(unzipped)
        rows = csv.reader(lines, strict=True)
        width = len(schema)  # at least 1 (checked with the manifest): a blank line is shorter
        make = row_maker(schema)
        runs = _plain_runs(lines, schema)
        try:
            while True:
                if runs is not None:
                    yield from runs()
                row = next(rows, None)
                if row is None:
                    return
                if len(row) == width:
                    yield make(row)
                elif row:  # a blank line is skipped
                    raise reader_failure(
                        f"{where} line {lines.count} has {len(row)} field(s); "
                        f"the manifest's fileSchema has {len(schema)}"
                    )
        except StatesError:
            raise
        except Exception as exc:
            raise _failure(exc, where, lines.count) from None


def _plain_runs(
    lines: DecodedLines, schema: tuple[str, ...]
) -> Callable[[], Iterator[list[str]]] | None:
    """A function giving the fields of the plain runs at ``lines``' position, reading more
    as needed, up to a line that is not plain or the end; None when no row of ``schema``
    can be templated (its keys are not plain)."""
    if not templated(schema):
        return None
    width = len(schema)
    pattern = plain_lines(width)

    def runs() -> Iterator[list[str]]:
        while lines.fill():
            text, pos = lines.text, lines.pos
            if len(text) - pos > csv.field_size_limit():  # csv.reader may refuse a field
                return
            fields = _all_plain(text, pos, width)
            if fields is not None:  # the usual case: every line left is plain
                lines.skip(len(text), len(fields) // width)
                yield fields
                continue
            found = pattern.match(text, pos)
            end = pos if found is None else found.end()
            if end == pos:
                return
            # Less the first quote, the last line's end and its last quote.
            run = text[pos + 1 : end].rstrip("\r\n")[:-1]
            if "\r" in run:
                run = run.replace('"\r\n"', '","')
            fields = run.replace('"\n"', '","').split('","')
            lines.skip(end, text.count("\n", pos, end))
            yield fields
            if end < len(text):
                return  # a line that is not plain

    return runs


def _all_plain(text: str, pos: int, width: int) -> list[str] | None:
    """The fields of ``text`` from ``pos`` when it is all plain lines ending in ``\\n``
    (what :func:`plain_lines` matches), else None.

    Split at the quotes, the text is its fields with the separators between them: those
    must be ``,`` within a line and ``\\n`` between lines, and the fields printable ASCII
    with no backslash (so no field holds a line end, and the text's only control
    characters are the separators' line ends).
    """
    if len(text) - pos < 3 or not (text.endswith('"\n') and text.startswith('"', pos)):
        return None
    inner = text[pos + 1 : -2]  # less the first quote and the last quote and line end
    if not inner.isascii():
        return None
    parts = inner.split('"')
    count, rest = divmod(len(parts) + 1, 2 * width)  # the lines, when all are plain
    if rest or parts[1::2] != _separators(width, count):
        return None
    if len(inner.encode("ascii").translate(None, _NOT_PLAIN)) != len(inner) - (count - 1):
        return None
    return parts[::2]


@functools.lru_cache(maxsize=256)
def _separators(width: int, count: int) -> list[str]:
    """What separates the fields of ``count`` plain lines of ``width`` fields (never
    changed: shared)."""
    separators = ([","] * (width - 1) + ["\n"]) * count
    separators.pop()
    return separators


def _failure(exc: Exception, where: str, line: int) -> Exception:
    """The reader's error for ``exc``, raised while reading line ``line`` of ``where``."""
    if isinstance(exc, gzip.BadGzipFile | EOFError | zlib.error):
        return reader_failure(f"{where} is not a valid gzip file: {exc}")
    if isinstance(exc, csv.Error):
        return reader_failure(f"{where} line {line} is not valid CSV: {exc}")
    if isinstance(exc, OSError | UnicodeDecodeError | ObjectStoreError):
        return failure_for(where)(exc)
    return exc
