"""A batch's ``paths.npz`` read without ``np.load``'s per-array header parsing.

``np.load`` parses each array's header (a Python literal) with ``ast`` every time: at
1,251 batches of three arrays that is a third of the first pass's reading. Every batch
of a run writes the same headers, so here each distinct header is parsed once (by
NumPy's own parser) and the arrays are views of the members' bytes. An ``.npz`` is a
zip archive of ``.npy`` files (``np.savez`` stores them uncompressed); anything else
is handed to ``np.load``, so what it accepts and refuses stays the same.
"""

from __future__ import annotations

import functools
import io
import zipfile
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
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return [_array(archive.read(f"{name}.npy")) for name in names]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a valid .npz file: {exc}") from None


def _array(data: bytes) -> NDArray[Any]:
    if not data.startswith(_MAGIC) or len(data) < 10:
        raise ValueError("not a .npy array")
    major = data[6]
    width = 2 if major == 1 else 4
    start = 8 + width
    size = int.from_bytes(data[8:start], "little")
    dtype, shape, fortran = _header(bytes(data[: start + size]))
    count = int(np.prod(shape, dtype=np.int64))
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
