"""Rows become objects by a generated dict display: the same objects as ``dict(zip(...))``."""

from __future__ import annotations

import pytest

from montemap.engine.row_maker import MAX_DISPLAY_COLUMNS, row_maker, rows_maker

ODD_NAMES = ["Bucket", "", "}", "{k0}", "row[0]", "'", '"', "\\", "); import os; (", "é", "k1"]


@pytest.mark.parametrize("width", [1, 2, 3, 7, MAX_DISPLAY_COLUMNS, MAX_DISPLAY_COLUMNS + 1, 200])
def test_the_object_is_that_of_zip(width: int) -> None:
    names = tuple(f"{ODD_NAMES[i % len(ODD_NAMES)]}#{i}" for i in range(width))
    row = [f"value {i}" for i in range(width)]
    made = row_maker(names)(row)
    assert made == dict(zip(names, row, strict=True))
    assert list(made) == list(names)  # the columns' order


def test_names_are_data_never_code() -> None:
    names = tuple(ODD_NAMES)
    row = [str(i) for i in range(len(names))]
    assert row_maker(names)(row) == dict(zip(names, row, strict=True))


def test_equal_names_keep_the_last_field_as_zip_does() -> None:
    names = ("a", "b", "a")
    assert row_maker(names)(["1", "2", "3"]) == dict(zip(names, ["1", "2", "3"], strict=True))


def test_makers_of_one_width_do_not_share_names() -> None:
    first, second = row_maker(("a", "b")), row_maker(("x", "y"))
    assert first(["1", "2"]) == {"a": "1", "b": "2"}
    assert second(["1", "2"]) == {"x": "1", "y": "2"}


@pytest.mark.parametrize("width", [1, 2, 3, 7, MAX_DISPLAY_COLUMNS, MAX_DISPLAY_COLUMNS + 1])
@pytest.mark.parametrize("rows", [0, 1, 5])
def test_rows_are_those_of_zip(width: int, rows: int) -> None:
    """Whole rows' fields, one after another: each row's object as ``dict(zip(...))``."""
    names = tuple(f"{ODD_NAMES[i % len(ODD_NAMES)]}#{i}" for i in range(width))
    fields = [f"value {i}" for i in range(width * rows)]
    made = rows_maker(names)(fields)
    expected = [
        dict(zip(names, fields[r * width : (r + 1) * width], strict=True)) for r in range(rows)
    ]
    assert made == expected
    assert all(list(row) == list(names) for row in made)


def test_rows_names_are_data_never_code_and_equal_names_keep_the_last() -> None:
    names = (*ODD_NAMES, "a", "a")
    fields = [str(i) for i in range(2 * len(names))]
    width = len(names)
    assert rows_maker(names)(fields) == [
        dict(zip(names, fields[:width], strict=True)),
        dict(zip(names, fields[width:], strict=True)),
    ]
    assert rows_maker(("x", "y"))(["1", "2"]) == [{"x": "1", "y": "2"}]
