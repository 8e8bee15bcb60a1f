"""The batch handler's shortcuts change no value: the bulk parse's byte-level checks
against the regular expressions they spare, its row splitter against Arrow's CSV reader
and its one-header split against the object-by-object one, every scenario computed at once
against one at a time (model and kernel), and rows in one piece encoded as rows cut by
scenario."""

from __future__ import annotations

import datetime as dt
import random
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest
from scipy import special

from montemap.credit import bulk_parse, model
from montemap.credit.batch_rows import encode_rows
from montemap.credit.bulk_fields import (
    all_digits,
    byte_spans,
    fixed_dates,
    lengths,
    plain_decimals,
    shared_header,
    split_rows,
)
from montemap.credit.generator import generate_rows, layout_columns
from montemap.credit.kernel import KernelInputs, get_backend
from montemap.credit.loans import LoanArrays, Reject, parse_records
from montemap.credit.sampling import path_design

ALPHABET = "0123456789./-+eE ax"


def _tokens(count: int, seed: int) -> list[str]:
    rand = random.Random(seed)
    fixed = ["", "0", "7", ".", "5.", ".5", "1.2.3", "01/02/2020", "2020-02-30", "1/2/2020"]
    fixed += ["12/31/1999", "1999-12-31", "99999", "02134-1234", "9" * 18, "9" * 19, "-1"]
    return fixed + [
        "".join(rand.choice(ALPHABET) for _ in range(rand.randint(0, 12))) for _ in range(count)
    ]


def _sliced(tokens: list[str]) -> pa.Array:
    """The tokens as a slice of a larger array (an offset into shared buffers)."""
    return pa.array(["pad", *tokens, "pad"], pa.string()).slice(1, len(tokens))


def _regex(arr: pa.Array, pattern: str) -> list[bool]:
    matched: list[bool] = pc.match_substring_regex(arr, pattern).to_pylist()
    return matched


def test_byte_checks_agree_with_the_expressions() -> None:
    tokens = _tokens(3000, seed=1)
    arr = _sliced(tokens)
    data, starts, sizes = byte_spans(arr)
    assert [bytes(data[s : s + n]).decode() for s, n in zip(starts, sizes, strict=True)] == tokens
    assert lengths(arr).tolist() == [len(t) for t in tokens]
    assert all_digits(arr, 1, 18).tolist() == _regex(arr, r"^[0-9]{1,18}$")
    assert all_digits(arr, 1, 5).tolist() == [bool(re.fullmatch(r"[0-9]{1,5}", t)) for t in tokens]
    number = _regex(arr, bulk_parse._NUMBER)
    plain = plain_decimals(arr).tolist()
    assert all(n for p, n in zip(plain, number, strict=True) if p)  # never more than it
    assert sum(plain) > 100  # and it covers the usual values
    assert fixed_dates(arr) is None  # not every token is a date


def test_fixed_dates_give_what_the_expressions_extract() -> None:
    rand = random.Random(2)
    dates = [
        f"{rand.randint(0, 19):02d}/{rand.randint(0, 39):02d}/{rand.randint(0, 9999):04d}"
        for _ in range(500)
    ]
    dates += [f"{rand.randint(0, 9999):04d}-{rand.randint(0, 19):02d}-01" for _ in range(500)]
    arr = _sliced(dates)
    got = fixed_dates(arr)
    assert got is not None
    year, month, day = got
    for i, text in enumerate(dates):
        us = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", text)
        y, m, d = (us.group(3), us.group(1), us.group(2)) if us else text.split("-")
        assert (year[i], month[i], day[i]) == (int(y), int(m), int(d)), text
    assert fixed_dates(_sliced([*dates, "1/02/2020"])) is None  # a shorter form: the expressions


@pytest.mark.parametrize("rows", [1, 7, 400])
def test_split_rows_is_the_csv_readers_split(rows: int) -> None:
    rand = random.Random(rows)
    width = 6
    lines = [
        ",".join("".join(rand.choice("ab1.") for _ in range(rand.randint(0, 4))) for _ in range(6))
        for _ in range(rows)
    ]
    joined = ("\n".join(lines) + "\n").encode()
    names = [f"c{i}" for i in range(width)]
    table = pcsv.read_csv(
        pa.py_buffer(joined),
        read_options=pcsv.ReadOptions(column_names=names),
        parse_options=pcsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
        ),
    )
    wanted = {"third": 2, "first": 0, "last": 5}
    got = split_rows(joined, rows, width, wanted)
    assert list(got) == list(wanted)
    for name, index in wanted.items():
        assert got[name].to_pylist() == table.column(index).to_pylist()
    with pytest.raises(ValueError):
        split_rows(joined, rows, width + 1, wanted)


def _base() -> model.Baseline:
    as_of = dt.date(2026, 11, 27)
    cols = layout_columns("realistic")
    rows = generate_rows("realistic", 3, 0, 1500, as_of).to_pylist()
    records = [
        (str(i), dict(zip(cols, r.rstrip("\n").split(","), strict=True)))
        for i, r in enumerate(rows)
    ]
    loans, _ = parse_records(records, as_of)
    base, _ = model.baseline(LoanArrays.from_loans(loans), as_of, model.ModelParams())
    return base


def test_every_scenario_at_once_is_each_scenario_alone() -> None:
    base = _base()
    params = model.ModelParams(kappa=0.2)
    shocks = [300, -150, 0, 25, 1000, -700]
    together = model.scenarios(base, shocks, params)
    for shock, joint in zip(shocks, together, strict=True):
        alone = model.scenario(base, shock, params)
        assert (joint.shock_bp, joint.mu) == (alone.shock_bp, alone.mu)
        for name in ("shocked_rate", "shocked_payment", "dti", "dscr", "pd_repriced"):
            np.testing.assert_array_equal(getattr(joint, name), getattr(alone, name), name)
        for name in ("pd_stressed", "rho", "expected_loss", "irb_capital", "crossed"):
            np.testing.assert_array_equal(getattr(joint, name), getattr(alone, name), name)
        assert joint.crossed.dtype == np.bool_
    assert any(sc.crossed.any() for sc in together)  # the test sees crossings


@pytest.mark.parametrize("shared_rho", [True, False])
def test_scenarios_together_are_each_scenario_alone_in_the_kernel(shared_rho: bool) -> None:
    gen = np.random.default_rng(9)
    n, paths = 150, 200
    ids = gen.integers(1, 10**12, n)
    loss = gen.integers(0, 10**9, n)
    rho = gen.uniform(0.02, 0.3, n)
    scenarios = [
        KernelInputs(
            ids,
            special.ndtri(gen.uniform(0.01, 0.3, n)),
            rho if shared_rho else gen.uniform(0.02, 0.3, n),
            loss,
        )
        for _ in range(3)
    ]
    design = path_design(6, paths, "is")
    mus = [0.0, -0.4, -0.9]
    together = get_backend().simulate(scenarios, seed=6, mus=mus, design=design)
    for sc, mu, joint in zip(scenarios, mus, together, strict=True):
        (alone,) = get_backend().simulate([sc], seed=6, mus=[mu], design=design)
        for name in ("loan_defaults", "loan_weighted", "path_loss_cents", "path_defaults"):
            np.testing.assert_array_equal(getattr(joint, name), getattr(alone, name), name)
        np.testing.assert_array_equal(joint.loan_weighted_sq, alone.loan_weighted_sq)
    assert int(together[0].path_defaults.sum()) > 0  # the test sees defaults


def test_shared_header_only_takes_the_plain_layout() -> None:
    head = b"AccountID,ZipCode\n"
    bodies: list[object] = [head + b"1,02134\n", head + b"2,9\n", head + b"33,\n"]
    assert shared_header(bodies, 1 << 20) == (head, b"1,02134\n2,9\n33,\n")
    assert shared_header(bodies[:1], 1 << 20) == (head, b"1,02134\n")
    odd: list[list[object]] = [
        [*bodies, Reject("k", "cannot read object")],  # a read reject
        [*bodies, b"AccountID,ZipCodf\n3,1\n"],  # another header of the same length
        [*bodies, b"AccountID\n3\n"],  # a shorter header
        [*bodies, head + b"\n"],  # an empty data line
        [*bodies, head + b"3,1\n4,2\n"],  # two data lines
        [*bodies, head + b"3,1"],  # no newline at the end
        [head + b"3,1", head + b"4,2\n\n"],  # the newlines add up, not per object
        [*bodies, head],  # no data line
        [],
    ]
    for case in odd:
        assert shared_header(case, 1 << 20) is None, case
    assert shared_header(bodies, 20) is None  # an object over the limit


def test_rows_in_one_piece_encode_as_rows_cut_by_scenario() -> None:
    k, n = 3, 5
    table = pa.table(
        {
            "key": pa.array([f"k{i % n}" for i in range(k * n)]),
            "shock_bp": pa.array(np.repeat(np.arange(k) * 100, n)),
            "value": pa.array(np.arange(k * n, dtype=np.float64)),
        }
    )
    assert len(table.to_batches()) == 1
    pieces = pa.Table.from_batches(
        [table.slice(j * n, n).combine_chunks().to_batches()[0] for j in range(k)]
    )
    assert len(pieces.to_batches()) == k
    one = encode_rows(table, k).to_pybytes()
    assert one == encode_rows(pieces, k).to_pybytes()  # the same file, byte for byte
    reader = pa.ipc.open_file(pa.py_buffer(one))
    assert reader.num_record_batches == k
    assert [reader.get_batch(j).column(1).to_pylist() for j in range(k)] == [
        [j * 100] * n for j in range(k)
    ]
