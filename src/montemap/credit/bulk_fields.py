"""Byte-level helpers of the bulk parse (:mod:`montemap.credit.bulk_parse`).

:func:`split_rows` cuts plain CSV rows (printable ASCII, no quotes, the same number of
fields in every row, each row ending in a newline) into string columns with array
operations. The other helpers look at the bytes of string arrays: what they accept is
proved to match the bulk parse's regular expressions and to give the same values, and
anything else is left to those expressions, so no value or reject reason changes; they
only spare the common rows a regular expression (compiled at every call) and a few
Arrow calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import cast

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

_NEWLINE, _COMMA, _DOT, _SLASH, _DASH, _ZERO = 10, 44, 46, 47, 45, 48
#: Byte positions of the digits and of the separator in ``MM/DD/YYYY`` and ``YYYY-MM-DD``.
_US = ((6, 7, 8, 9), (0, 1), (3, 4), (2, 5), _SLASH)
_ISO = ((0, 1, 2, 3), (5, 6), (8, 9), (4, 7), _DASH)


def _date_weights() -> NDArray[np.float64]:
    """(10, 6): per byte position, its decimal weight in the year, month and day of the
    US form, then of the ISO form (a field's value is its digits times these, summed)."""
    weights = np.zeros((10, 6), dtype=np.float64)
    for f, (y, m, d, _, _) in enumerate((_US, _ISO)):
        for i, places in enumerate((y, m, d)):
            for power, place in enumerate(reversed(places)):
                weights[place, 3 * f + i] = 10**power
    return weights


_DATE_WEIGHTS = _date_weights()


def split_rows(
    joined: bytes, rows: int, width: int, columns: Mapping[str, int]
) -> dict[str, pa.Array]:
    """``columns`` (name -> field index) of ``rows`` plain rows of ``width`` fields, each
    a string array: what Arrow's CSV reader gives for such rows without quoting."""
    cut = split_columns(joined, rows, width, list(columns.values()))
    return {name: cut.slice(i * rows, rows) for i, name in enumerate(columns)}


def split_columns(joined: bytes, rows: int, width: int, indices: Sequence[int]) -> pa.Array:
    """Fields ``indices`` of ``rows`` plain rows of ``width`` fields as one string array,
    column after column (``rows`` strings per index)."""
    arr = np.frombuffer(joined, dtype=np.uint8)
    sep = np.flatnonzero((arr == _COMMA) | (arr == _NEWLINE))
    if sep.shape[0] != rows * width:
        raise ValueError(f"expected {rows * width} fields, found {sep.shape[0]}")
    return _cut(joined, sep, rows, width, indices)


def split_plain(joined: bytes, rows: int, width: int, indices: Sequence[int]) -> pa.Array | None:
    """Fields ``indices`` of ``rows`` rows (``joined``: each ending in a newline, none
    inside) as one string array, column after column (``rows`` strings per index), when
    every row is plain: printable ASCII without quotes, ``width`` fields (what
    :func:`split_columns` cuts). None when any row is not (look at each row)."""
    arr = np.frombuffer(joined, dtype=np.uint8)
    # the newlines are the only bytes outside printable ASCII, or a quote, when there are
    # as many of those as rows
    if np.count_nonzero((arr < 0x20) | (arr > 0x7E) | (arr == 0x22)) != rows:
        return None
    sep = np.flatnonzero((arr == _COMMA) | (arr == _NEWLINE))
    if rows == 0 or sep.shape[0] != rows * width or int(sep[-1]) != arr.shape[0] - 1:
        return None
    # every row's last separator a newline: each row holds width - 1 commas
    if not (arr[sep[width - 1 :: width]] == _NEWLINE).all():
        return None
    return _cut(joined, sep, rows, width, indices)


def _cut(
    joined: bytes, sep: NDArray[np.intp], rows: int, width: int, indices: Sequence[int]
) -> pa.Array:
    """Fields ``indices`` of every row, column after column, as one string array (``sep``:
    the position of every field's comma or newline)."""
    fields = rows * width
    offsets = np.zeros(fields + 1, dtype=np.int32)
    offsets[1:] = sep - np.arange(fields)  # each field ends where its separator was
    data = joined.translate(None, b",\n")  # the fields' bytes, one after the other
    every = pa.StringArray.from_buffers(fields, pa.py_buffer(offsets), pa.py_buffer(data))
    # the wanted columns one after the other (one take): each column is a slice of it
    wanted = np.array(indices, dtype=np.int64)
    return every.take(pa.array((wanted[:, None] + np.arange(rows) * width).ravel()))


def byte_spans(arr: pa.Array) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64]]:
    """The bytes of a string array without nulls (its own part of its data buffer), and
    each string's start in them and length."""
    if arr.type != pa.string() or arr.null_count:
        raise TypeError("byte_spans needs a string array without nulls")
    if len(arr) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint8), empty, empty
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)[first:last]
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    starts = offsets[:-1].astype(np.int64) - first
    return data, starts, np.diff(offsets).astype(np.int64)


def lengths(arr: pa.Array) -> NDArray[np.int64]:
    """Each string's length in bytes."""
    return byte_spans(arr)[2]


def _counts(
    flags: NDArray[np.bool_], starts: NDArray[np.int64], sizes: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Per string, how many of its bytes are flagged."""
    total = np.zeros(flags.shape[0] + 1, dtype=np.int64)
    np.cumsum(flags, out=total[1:])
    return np.asarray(total[starts + sizes] - total[starts], dtype=np.int64)


def _digits(data: NDArray[np.uint8]) -> NDArray[np.bool_]:
    return (data >= _ZERO) & (data <= _ZERO + 9)


def all_digits(arr: pa.Array, shortest: int, longest: int) -> NDArray[np.bool_]:
    """Where the string is ``shortest`` to ``longest`` ASCII digits (``^[0-9]{a,b}$``)."""
    data, starts, sizes = byte_spans(arr)
    digits = _counts(_digits(data), starts, sizes)
    return np.asarray((digits == sizes) & (sizes >= shortest) & (sizes <= longest))


def plain_decimals(arr: pa.Array) -> NDArray[np.bool_]:
    """Where the string is digits with at most one dot and at least one digit (``12``,
    ``1.5``, ``5.``, ``.5``): a form the number expression accepts, not all of them."""
    data, starts, sizes = byte_spans(arr)
    dots = _counts(data == _DOT, starts, sizes)
    if data.tobytes().translate(None, _DECIMAL):  # a byte other than a digit or a dot
        digits = _counts(_digits(data), starts, sizes)
    else:  # every other byte a digit (the usual numbers): no count of them needed
        digits = sizes - dots
    return np.asarray((digits + dots == sizes) & (dots <= 1) & (digits >= 1))


_DECIMAL = b"0123456789."


def fixed_dates(
    arr: pa.Array,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]] | None:
    """Year, month and day when every string is ``MM/DD/YYYY`` or ``YYYY-MM-DD`` with
    exactly those digit counts (else None: the expressions decide)."""
    data, starts, sizes = byte_spans(arr)
    if not (sizes == 10).all():
        return None
    if starts.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    chars = data.reshape(-1, 10).astype(np.int64)  # every string 10 bytes: one after the other
    digit = (chars >= _ZERO) & (chars <= _ZERO + 9)
    matched = np.zeros(starts.shape[0], dtype=np.bool_)
    forms = []
    for y, m, d, seps, sep in (_US, _ISO):
        form = digit[:, list(y + m + d)].all(axis=1)
        form &= (chars[:, list(seps)] == sep).all(axis=1) & ~matched
        forms.append(form)
        matched |= form
    if not matched.all():
        return None
    # (strings, 6): each form's year, month and day; small whole numbers, so the float
    # product (BLAS: NumPy's integer one is a plain loop) is exact
    values = ((chars - _ZERO).astype(np.float64) @ _DATE_WEIGHTS).astype(np.int64)
    us = forms[0]
    year, month, day = (np.where(us, values[:, i], values[:, i + 3]) for i in range(3))
    return year, month, day


def shared_header(bodies: Sequence[object], limit: int) -> tuple[bytes, bytes] | None:
    """``(header line, data lines joined)`` when every body is bytes of at most ``limit``
    bytes holding the same header line and one non-empty data line, each line ending in a
    newline (a batch of generated loans); else None, and the bodies are looked at one by
    one."""
    found = _one_header(bodies, limit)  # the usual batch, without cutting every line
    if found is not None:
        return found
    try:
        joined = b"".join(bodies)  # type: ignore[arg-type]  # a reject is not bytes: None
    except TypeError:
        return None
    return _split_header(bodies, joined, limit)


def _one_header(bodies: Sequence[object], limit: int) -> tuple[bytes, bytes] | None:
    """:func:`shared_header` where a few calls over all the bodies prove it; None where
    they do not (:func:`_split_header` then decides)."""
    n = len(bodies)
    first = bodies[0] if n else None
    if not isinstance(first, bytes) or (end := first.find(b"\n") + 1) == 0:
        return None
    head = first[:end]  # the header line: one newline, at its end
    texts = cast("Sequence[bytes]", bodies)  # bytes.startswith refuses anything else
    try:  # every body starts with it and ends with a newline
        if not all(map(bytes.startswith, texts, repeat(head))):
            return None
        if not all(map(bytes.endswith, texts, repeat(b"\n"))):
            return None
    except TypeError:
        return None
    sizes = list(map(len, texts))
    if max(sizes) > limit or min(sizes) < end + 2:  # each body's rest: 2 bytes at least
        return None
    rows = b"".join(map(itemgetter(slice(end, None)), texts))
    # each rest ends with a newline: n in all leave each its one (a data line, not empty)
    return (head, rows) if rows.count(b"\n") == n else None


def _split_header(
    bodies: Sequence[object], joined: bytes, limit: int
) -> tuple[bytes, bytes] | None:
    """:func:`shared_header` with every line cut out."""
    n = len(bodies)
    lines = joined.split(b"\n")  # header, data, header, data, ..., then b"" after the last
    if n == 0 or len(lines) != 2 * n + 1 or lines[-1]:
        return None
    heads, rows = lines[0 : 2 * n : 2], lines[1 : 2 * n : 2]
    if heads.count(heads[0]) != n:
        return None
    sizes = np.fromiter(map(len, bodies), dtype=np.int64, count=n)  # type: ignore[arg-type]
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    # each body is its header, a newline, its data line and a newline: then every line
    # counted above is in the body it was cut from
    if int(sizes.max()) > limit or not np.array_equal(sizes, widths + (len(heads[0]) + 2)):
        return None
    if int(widths.min()) == 0:
        return None  # an empty data line
    rows.append(b"")
    return heads[0] + b"\n", b"\n".join(rows)
