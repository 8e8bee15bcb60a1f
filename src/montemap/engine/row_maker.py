"""Rows of fields as objects keyed by their column names, built without ``zip``.

An S3 Inventory file has hundreds of thousands of rows; ``dict(zip(names, row))``
costs about four times a dict display (``{k0: row[0], k1: row[1]}``), which is what
:func:`row_maker` returns for tables of up to :data:`MAX_DISPLAY_COLUMNS` columns.
The generated code holds only positions (``k0``, ``row[0]``): the column names are
bound as arguments, never written into the source, so any name is safe.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

__all__ = ["MAX_DISPLAY_COLUMNS", "row_maker"]

#: Widest table built with a generated dict display; wider ones use ``dict(zip(...))``.
MAX_DISPLAY_COLUMNS = 64

RowMaker = Callable[[Sequence[str]], dict[str, str]]


def row_maker(names: tuple[str, ...]) -> RowMaker:
    """A function of a row holding exactly ``len(names)`` fields: ``dict(zip(names, row))``.

    The caller checks the row's width; the function does not. Equal names keep the
    last field, as ``dict(zip(...))`` does.
    """
    if not names or len(names) > MAX_DISPLAY_COLUMNS:
        return functools.partial(_zipped, names)
    return _display(len(names))(*names)


def _zipped(names: tuple[str, ...], row: Sequence[str]) -> dict[str, str]:
    return dict(zip(names, row, strict=True))


@functools.lru_cache(maxsize=MAX_DISPLAY_COLUMNS)
def _display(width: int) -> Callable[..., RowMaker]:
    """``lambda k0, ..., kN: lambda row: {k0: row[0], ..., kN: row[N]}`` for ``width`` columns."""
    keys = ", ".join(f"k{i}" for i in range(width))
    fields = ", ".join(f"k{i}: row[{i}]" for i in range(width))
    # Only integers are formatted into the code; the names arrive as arguments.
    made: Callable[..., RowMaker] = eval(f"lambda {keys}: lambda row: {{{fields}}}")
    return made
