"""``--as-of`` (``simulate``, ``run``) and ``BatchInput.as_of`` take ASCII digits only,
and say so: ``\\d`` also matched the digits of other scripts, so ``٢٠٢٦-١١-٢٧`` passed
the format check and was then refused as "is not a valid date"."""

from __future__ import annotations

from pathlib import Path

import pytest

from montemap import cli
from montemap.credit.params import BatchInputError, parse_as_of

NOT_ASCII = ["٢٠٢٦-١١-٢٧", "２０２６-１１-２７", "2026-1١-27"]


@pytest.mark.parametrize("value", NOT_ASCII)
def test_the_batch_parser_says_digits_must_be_ascii(value: str) -> None:
    with pytest.raises(BatchInputError) as caught:
        parse_as_of("--as-of", value)
    assert (
        caught.value.cause == f"--as-of must be a date YYYY-MM-DD (ASCII digits 0-9), got {value!r}"
    )


def test_a_date_no_calendar_has_is_still_not_valid() -> None:
    with pytest.raises(BatchInputError, match="is not a valid date"):
        parse_as_of("--as-of", "2026-02-30")


@pytest.mark.parametrize("value", NOT_ASCII)
def test_simulate_says_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    tape = tmp_path / "t.csv"
    tape.write_text("AccountID\n1\n")
    argv = ["simulate", "--loans", str(tape), "--out", str(tmp_path / "o"), "--as-of", value]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"montemap: error: --as-of must be a date YYYY-MM-DD (ASCII digits 0-9), got {value!r}\n"
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("٢٠٢٦-١١-٢٧", "--as-of '٢٠٢٦-١١-٢٧' is not a date YYYY-MM-DD (ASCII digits 0-9)"),
        ("2026-02-30", "--as-of '2026-02-30' is not a valid date"),
    ],
)
def test_run_says_it_in_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, says: str
) -> None:
    data = tmp_path / "data"
    code = cli.main(["run", "--data-dir", str(data), "--loans", "10", "--quiet", "--as-of", value])
    err = capsys.readouterr().err
    assert code == 1 and err == f"montemap: error: {says}\n", err
    assert not data.exists()
