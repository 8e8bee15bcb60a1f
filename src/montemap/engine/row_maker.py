"""Rows of fields as objects keyed by their column names, built without ``zip``.

An S3 Inventory file has hundreds of thousands of rows; ``dict(zip(names, row))``
costs about four times a dict display (``{k0: row[0], k1: row[1]}``), which is what
:func:`row_maker` returns for tables of up to :data:`MAX_DISPLAY_COLUMNS` columns.
The generated code holds only positions (``k0``, ``row[0]``): the column names are
bound as arguments, never written into the source, so any name is safe.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Sequence

__all__ = ["MAX_DISPLAY_COLUMNS", "row_maker", "rows_maker"]

#: Widest table built with a generated dict display; wider ones use ``dict(zip(...))``.
MAX_DISPLAY_COLUMNS = 64

RowMaker = Callable[[Sequence[str]], dict[str, str]]
RowsMaker = Callable[[Sequence[str]], list[dict[str, str]]]


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


def rows_maker(names: tuple[str, ...]) -> RowsMaker:
    """A function of the fields of whole rows, one after another (``len(names)`` each):
    the rows' objects, as :func:`row_maker` makes them, built in one list comprehension
    whose dict display has the names as constant keys (the fastest display).

    The caller checks that the fields fill whole rows; the function does not.
    """
    if not names or len(names) > MAX_DISPLAY_COLUMNS:
        one = row_maker(names)
        width = max(len(names), 1)
        return lambda fields: [one(fields[i : i + width]) for i in range(0, len(fields), width)]
    return _rows_display(names)


@functools.lru_cache(maxsize=32)
def _rows_display(names: tuple[str, ...]) -> RowsMaker:
    """``lambda fields: [{names[0]: v0, ...} for v0, ... in zip(*[iter(fields)] * width)]``.

    The code is parsed with integers for keys, then the names replace them in the syntax
    tree as constants: no name is ever part of the source text.
    """
    width = len(names)
    values = "".join(f"v{i}, " for i in range(width))  # a tuple target, one column too
    members = ", ".join(f"{i}: v{i}" for i in range(width))
    tree = ast.parse(
        f"lambda fields: [{{{members}}} for {values} in zip(*[iter(fields)] * {width})]",
        mode="eval",
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, name in zip(node.keys, names, strict=True):
                assert isinstance(key, ast.Constant)
                key.value = name
    made: RowsMaker = eval(compile(tree, "<rows_maker>", "eval"))
    return made
