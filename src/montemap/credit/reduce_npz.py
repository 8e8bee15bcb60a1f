"""A batch's ``paths.npz`` read without ``np.load``'s per-array header parsing.

``np.load`` parses each array's header (a Python literal) with ``ast`` every time: at
1,251 batches of three arrays that is a third of the first pass's reading. Every batch
of a run writes the same headers, so here each distinct header is parsed once (by
NumPy's own parser) and the arrays are views of the members' bytes. An ``.npz`` is a
zip archive of ``.npy`` files (``np.savez`` stores them uncompressed); anything else
is handed to ``np.load``, so what it accepts and refuses stays the same.

The members are found by walking the archive's local headers (:func:`_stored_members`,
a few ``struct`` reads, their CRC-32 checked as :mod:`zipfile` checks it) rather than
through :class:`zipfile.ZipFile` (its Python objects per member and stream cost two
thirds of the reading); an archive that is not simply a run of stored members (a
compressed or encrypted one, one with data descriptors) goes through ``zipfile``.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

_ZIP = b"PK\x03\x04"
_MAGIC = b"\x93NUMPY"


def read_npz(raw: bytes, names: Sequence[str]) -> list[NDArray[Any]]:
    """The arrays ``names`` of an ``.npz`` file's bytes (read-only). Raises
    ``KeyError`` for a missing array and ``ValueError``/``OSError`` for bad data."""
    if not raw.startswith(_ZIP):
        with np.load(io.BytesIO(raw)) as npz:
            return [npz[name] for name in names]
    members = _stored_members(raw)
    if members is not None and all(f"{name}.npy" in members for name in names):
        return [_array(members[f"{name}.npy"]) for name in names]
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return [_array(archive.read(f"{name}.npy")) for name in names]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a valid .npz file: {exc}") from None


_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # a zip local file header (30 bytes)
_EXTRA = struct.Struct("<HH")  # an extra field's id and size
_ZIP64 = 0x0001  # the id of the ZIP64 extra field (64-bit sizes)
_MAX32 = 0xFFFFFFFF
_DIRECTORY = b"PK\x01\x02"  # what follows the members: the central directory


def _stored_members(raw: bytes) -> dict[str, memoryview] | None:
    """Name to bytes of every member of a zip archive made of stored (uncompressed)
    members one after the other, each whole and with a matching CRC-32; ``None`` for
    anything else (left to :mod:`zipfile`, which reads or refuses it)."""
    view = memoryview(raw)
    members: dict[str, memoryview] = {}
    pos = 0
    while raw.startswith(_ZIP, pos):
        if pos + _LOCAL.size > len(raw):
            return None
        _, _, flags, method, _, _, crc, size, usize, nlen, xlen = _LOCAL.unpack_from(raw, pos)
        if method != zipfile.ZIP_STORED or flags & 0x09:  # compressed, encrypted, descriptor
            return None
        start = pos + _LOCAL.size + nlen + xlen
        if size == _MAX32 or usize == _MAX32:
            sizes = _zip64_sizes(raw, pos + _LOCAL.size + nlen, xlen, usize, size)
            if sizes is None:
                return None
            usize, size = sizes
        data = view[start : start + size]
        if usize != size or len(data) != size or zlib.crc32(data) != crc:
            return None
        name = bytes(view[pos + _LOCAL.size : pos + _LOCAL.size + nlen]).decode("utf-8", "replace")
        members[name] = data
        pos = start + size
    return members if members and raw.startswith(_DIRECTORY, pos) else None


def _zip64_sizes(
    raw: bytes, offset: int, length: int, usize: int, size: int
) -> tuple[int, int] | None:
    """The sizes (uncompressed, compressed) a ZIP64 extra field gives in place of those
    saturated in the local header, or ``None`` without one."""
    end = offset + length
    while offset + _EXTRA.size <= end:
        kind, field = _EXTRA.unpack_from(raw, offset)
        offset += _EXTRA.size
        if kind == _ZIP64:
            values = iter(struct.unpack_from(f"<{field // 8}Q", raw, offset))
            try:
                usize = next(values) if usize == _MAX32 else usize
                size = next(values) if size == _MAX32 else size
            except StopIteration:
                return None
            return usize, size
        offset += field
    return None


def _array(data: bytes | memoryview) -> NDArray[Any]:
    if len(data) < 10 or bytes(data[: len(_MAGIC)]) != _MAGIC:
        raise ValueError("not a .npy array")
    major = data[6]
    width = 2 if major == 1 else 4
    start = 8 + width
    size = int.from_bytes(data[8:start], "little")
    dtype, shape, fortran = _header(bytes(data[: start + size]))
    count = math.prod(shape)
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=start + size)
    return flat.reshape(shape, order="F" if fortran else "C")


@functools.lru_cache(maxsize=64)
def _header(head: bytes) -> tuple[np.dtype[Any], tuple[int, ...], bool]:
    """dtype, shape and order of an ``.npy`` header (its bytes up to the data)."""
    stream = io.BytesIO(head)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays cannot be loaded from a batch output")
    return dtype, tuple(shape), bool(fortran)
