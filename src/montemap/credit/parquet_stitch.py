"""A Parquet file written row group by row group, holding no metadata per row group.

Arrow's ``ParquetWriter`` keeps ~870 bytes of C++ Thrift structures per column chunk
until it closes (~30 KB per row group of 34 columns), so a file of many row groups
holds megabytes while the footer it writes is a tenth of that. :class:`RowGroupFile`
instead has Arrow write each row group as a Parquet file of its own (a part, on disk
next to the file, with no name where Linux allows: in the page cache, not in the
process's memory), copies the part's bytes between its leading ``PAR1`` and its
footer to the end of the file (in the kernel: ``copy_file_range``), reads the part's footer with a Thrift codec of its own
(:mod:`montemap.credit.thrift_compact`), moves every file offset of its row group by
where the part's bytes now start, and keeps only the row group's Thrift bytes (2-3 KB),
in an anonymous temporary file. :meth:`RowGroupFile.close` writes the footer: the first
part's ``FileMetaData`` (schema, ``ARROW:schema``, ``created_by``, column orders) with
every part's row groups and their rows summed. The file is byte for byte what one
``ParquetWriter`` given the same tables and options writes
(``tests/credit/test_parquet_stitch.py``). Page indexes, bloom filters and encryption
are refused (their structures hold offsets of pages this module does not read; the
reduction writes none of them).
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from montemap.credit import thrift_compact as tc
from montemap.errors import MontemapError

__all__ = ["ParquetWriteError", "RowGroupFile"]

MAGIC = b"PAR1"
_LENGTH = struct.Struct("<I")
# FileMetaData, RowGroup, ColumnChunk and ColumnMetaData field ids (parquet.thrift)
_NUM_ROWS, _ROW_GROUPS = 3, 4
_COLUMNS, _GROUP_ROWS, _GROUP_OFFSET, _ORDINAL = 1, 3, 5, 7
_CHUNK_OFFSET, _CHUNK_META, _INDEXES = 2, 3, (4, 6)  # ColumnChunk; (4, 6): page indexes
_PAGES, _BLOOM = (9, 10, 11), 14  # ColumnMetaData: data, index, dictionary page; bloom filter
#: ``ParquetWriter`` options this writer refuses (pages' offsets it would have to move).
_REFUSED = ("write_page_index", "bloom_filter_options", "encryption_properties")
_COPY_FALLBACK = frozenset((errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL))


class ParquetWriteError(MontemapError):
    """A Parquet file could not be written (the disk, or Arrow's part not as expected)."""


class RowGroupFile:
    """``path`` as a Parquet file of ``schema``, written by :meth:`write` one row group
    per table with ``pq.ParquetWriter``'s ``options``, complete once :meth:`close` returns.
    On an error the file is removed (:meth:`abort`)."""

    def __init__(self, path: Path, schema: pa.Schema, options: dict[str, Any]) -> None:
        refused = [name for name in _REFUSED if options.get(name)]
        if refused:
            raise ParquetWriteError(f"{path}: cannot be written in parts with {refused}")
        self.path = path
        self.schema = schema
        self.options = options
        self.part = str(path.with_name(f"{path.name}.rowgroup"))  # Arrow writes parts here
        self._part_fd: int | None = None  # the part when it has no name (see _nameless)
        self._file_meta: tc.Struct | None = None  # the first part's, without row groups
        self._rows = 0
        self._groups = 0
        self._end = len(MAGIC)  # where the row groups end (the next part's bytes go)
        self._fd: int | None = None
        self._spool: BinaryIO | None = None
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            self._spool = tempfile.TemporaryFile(dir=path.parent)  # noqa: SIM115 (until close)
            _write_all(self._fd, MAGIC)
            if nameless := _nameless(path.parent):
                self._part_fd, self.part = nameless
        except OSError as exc:
            self.abort()
            raise ParquetWriteError(f"{path}: cannot create the Parquet file: {exc}") from exc

    @property
    def row_groups(self) -> int:
        """Row groups written so far."""
        return self._groups

    def write(self, table: pa.Table) -> None:
        """Append ``table`` as one row group (as Arrow does, one of no rows if empty)."""
        if self._fd is None:
            raise ParquetWriteError(f"{self.path}: written after it was closed")
        try:
            self._write(self._fd, table)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError | tc.ThriftError):
                raise ParquetWriteError(f"{self.path}: cannot write a row group: {exc}") from exc
            raise

    def close(self) -> None:
        """Write the footer and close the file (nothing if already closed)."""
        if self._fd is None:
            return
        try:
            if self._file_meta is None:  # no part yet: Arrow's footer of no row groups
                self._write(self._fd, None)
            self._write_footer(self._fd)
            os.close(self._fd)
            self._fd = None
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError | tc.ThriftError):
                raise ParquetWriteError(f"{self.path}: cannot write the footer: {exc}") from exc
            raise
        finally:
            self._drop_scratch()

    def abort(self) -> None:
        """Close and remove the file (what was written is not a Parquet file)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.path.unlink(missing_ok=True)
        self._drop_scratch()

    def _drop_scratch(self) -> None:
        if self._part_fd is not None:
            os.close(self._part_fd)
            self._part_fd = None
        else:
            Path(self.part).unlink(missing_ok=True)
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _write(self, fd: int, table: pa.Table | None) -> None:
        with (
            pa.OSFile(self.part, "wb") as sink,
            pq.ParquetWriter(sink, self.schema, **self.options) as writer,
        ):
            if table is not None:
                writer.write_table(table, row_group_size=max(table.num_rows, 1))
        part = os.open(self.part, os.O_RDONLY) if self._part_fd is None else self._part_fd
        try:
            footer, end = _read_footer(part, self.path)
            mover = _Mover(self.path, self._end - len(MAGIC), end, self._groups)
            rest, groups = _split(footer, mover, self.path)
            if self._file_meta is None:
                self._file_meta = rest
            elif rest != self._file_meta:
                raise ParquetWriteError(f"{self.path}: a part's file metadata differs")
            _copy(part, fd, len(MAGIC), self._end, end - len(MAGIC))
        finally:
            if part != self._part_fd:
                os.close(part)
        assert self._spool is not None
        for group in groups:
            self._spool.write(group)
        self._rows += mover.rows
        self._groups += len(groups)
        self._end += end - len(MAGIC)

    def _write_footer(self, fd: int) -> None:
        assert self._file_meta is not None and self._spool is not None
        fields = sorted([*self._file_meta.fields, (_NUM_ROWS, tc.I64, self._rows)])
        before = [f for f in fields if f[0] < _ROW_GROUPS]
        head = tc.encode_fields(before)
        head += tc.list_field_header(_ROW_GROUPS, tc.STRUCT, self._groups, before[-1][0])
        tail = tc.encode_fields([f for f in fields if f[0] > _ROW_GROUPS], _ROW_GROUPS) + b"\0"
        self._spool.flush()
        size = self._spool.tell()
        os.lseek(fd, self._end, os.SEEK_SET)
        _write_all(fd, head)
        _copy(self._spool.fileno(), fd, 0, self._end + len(head), size)  # not via memory
        os.lseek(fd, self._end + len(head) + size, os.SEEK_SET)
        _write_all(fd, tail + _LENGTH.pack(len(head) + size + len(tail)) + MAGIC)


def _nameless(folder: Path) -> tuple[int, str] | None:
    """A file with no name in ``folder`` (nothing left behind by a crash) and a path that
    opens it for Arrow (Linux: ``O_TMPFILE`` and ``/proc``); ``None`` where there is none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        fd = os.open(folder, flag | os.O_RDWR, 0o600)
    except OSError:
        return None
    if not os.path.exists(f"/proc/self/fd/{fd}"):
        os.close(fd)
        return None
    return fd, f"/proc/self/fd/{fd}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy(src: int, dst: int, src_at: int, dst_at: int, size: int) -> None:
    """``size`` bytes of ``src`` from ``src_at`` to ``dst`` at ``dst_at``, in the kernel
    where it can."""
    copy_range = getattr(os, "copy_file_range", None)
    while size > 0:
        if copy_range is not None:
            try:
                done = copy_range(src, dst, size, src_at, dst_at)
            except OSError as exc:
                if exc.errno not in _COPY_FALLBACK:
                    raise
                copy_range = None
                continue
        else:
            block = os.pread(src, min(size, 1 << 18), src_at)
            done = os.pwrite(dst, block, dst_at) if block else 0
        if done <= 0:
            raise OSError(errno.EIO, f"a file ended {size} bytes early")
        src_at, dst_at, size = src_at + done, dst_at + done, size - done


def _read_footer(fd: int, path: Path) -> tuple[bytes, int]:
    """The part's footer and where it starts (the end of its row groups)."""
    size = os.fstat(fd).st_size
    trailer = os.pread(fd, 8, size - 8) if size >= 12 else b""
    if len(trailer) != 8 or trailer[4:] != MAGIC:
        raise ParquetWriteError(f"{path}: Arrow's part does not end in a plain Parquet footer")
    length = _LENGTH.unpack_from(trailer)[0]
    start = size - 8 - length
    if start < len(MAGIC):
        raise ParquetWriteError(f"{path}: the part's footer length {length} is too large")
    return os.pread(fd, length, start), start


def _split(footer: bytes, mover: _Mover, path: Path) -> tuple[tc.Struct, list[bytes]]:
    """A part's ``FileMetaData`` but its rows and row groups, and its row groups' bytes
    with their offsets moved (:class:`_Mover`)."""
    groups: list[bytes] = []

    def read_groups(pos: int) -> int:
        kind, size, pos = tc.list_header(footer, pos)
        if kind != tc.STRUCT:
            raise ParquetWriteError(f"{path}: the part's row groups are not structs")
        for _ in range(size):
            group, pos = tc.rewrite(footer, pos, mover.edits())
            groups.append(group)
            mover.ordinal += 1
        return pos

    top, used = tc.fields(footer, 0, {_ROW_GROUPS: read_groups})
    if used != len(footer):
        raise ParquetWriteError(f"{path}: the part's footer has {len(footer) - used} bytes more")
    rest = tc.Struct()
    for fid, wire, start, end in top:
        if wire in (tc.TRUE, tc.FALSE):
            rest.fields.append((fid, wire, wire == tc.TRUE))
        elif fid == _ROW_GROUPS and wire != tc.LIST:
            raise ParquetWriteError(f"{path}: the part's row groups are not a list")
        elif fid not in (_NUM_ROWS, _ROW_GROUPS):
            rest.fields.append((fid, wire, tc.Raw(footer[start:end])))
    return rest, groups


class _Mover:
    """The edits of a part's row groups: each file offset moved by ``shift`` (the offsets
    must lie in the part's bytes, ``PAR1`` to ``end``), ordinals (if any) numbered on
    from ``ordinal``, rows counted."""

    def __init__(self, path: Path, shift: int, end: int, ordinal: int) -> None:
        self.path = path
        self.shift = shift
        self.end = end
        self.ordinal = ordinal
        self.rows = 0

    def edits(self) -> tc.Edits:
        """The edits of a row group (made anew: kept, they would make a reference cycle)."""
        pages: tc.Edits = {**dict.fromkeys(_PAGES, self.move), _BLOOM: self.refuse}
        chunk: tc.Edits = {_CHUNK_OFFSET: self.move, **dict.fromkeys(_INDEXES, self.refuse)}
        return {
            _GROUP_ROWS: self.count,
            _GROUP_OFFSET: self.move,
            _ORDINAL: self.number,
            _COLUMNS: {**chunk, _CHUNK_META: pages},
        }

    def move(self, offset: int) -> int:
        """An offset of the part's, in the file (0 stays 0: Arrow's "none", for the pages
        of an empty row group and for the deprecated ColumnChunk.file_offset)."""
        if offset == 0:
            return 0
        if not len(MAGIC) <= offset <= self.end:
            raise ParquetWriteError(
                f"{self.path}: Arrow's part has an offset {offset} outside its row groups "
                f"({len(MAGIC)}-{self.end})"
            )
        return offset + self.shift

    def refuse(self, _: int) -> int:
        raise ParquetWriteError(f"{self.path}: Arrow's part has a page index or bloom filter")

    def count(self, rows: int) -> int:
        self.rows += rows
        return rows

    def number(self, _: int) -> int:
        if self.ordinal > 0x7FFF:
            raise ParquetWriteError(f"{self.path}: more than 32,768 row groups with ordinals")
        return self.ordinal
