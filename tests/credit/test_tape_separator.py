"""A tape whose fields are separated by something other than commas (a spreadsheet's
semicolons, a TSV's tabs) is refused naming the separator it uses, not only the columns
that seem to be missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap.credit.portfolio import local_destination
from montemap.credit.tape import TapeError, import_tape
from tests.credit.helpers import csv_bytes, portfolio


@pytest.mark.parametrize(
    ("separator", "called"), [(";", "semicolons"), ("\t", "tabs"), ("|", "'|'")]
)
def test_a_tape_with_another_separator_is_named(
    tmp_path: Path, separator: str, called: str
) -> None:
    text = csv_bytes(portfolio(3)).decode().replace(",", separator)
    tape = tmp_path / "tape.csv"
    tape.write_text(text)
    with pytest.raises(TapeError, match=f"its fields are separated by {called}") as refused:
        import_tape(tape, local_destination(tmp_path / "d"))
    assert "missing required columns AccountID" in str(refused.value)


def test_a_comma_tape_missing_a_column_gets_no_separator_hint(tmp_path: Path) -> None:
    rows = portfolio(3)
    for row in rows:
        del row["Rate"]
    tape = tmp_path / "tape.csv"
    tape.write_bytes(csv_bytes(rows))
    with pytest.raises(TapeError, match="missing required column Rate") as refused:
        import_tape(tape, local_destination(tmp_path / "d"))
    assert "separated" not in str(refused.value)
