"""The batch handler's session-23 shortcuts change no value and no byte: the plain-rows
check fused with the cut (:func:`split_plain`) against the row-by-row check and the cut,
the range check of every numeric column at once against the rule column by column, the
digits-and-dots shortcut of :func:`plain_decimals` against a per-string reference, the
scenario's kept ``Phi^-1(pd_repriced)`` against ``ndtri``, and ``loans.arrow`` written
into a kept buffer against the growing stream (a file too big for it, several threads)."""

from __future__ import annotations

import random
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import special

from montemap.credit import bulk_parse, model
from montemap.credit.batch import _threshold
from montemap.credit.batch_rows import _scratch, encode_rows, encode_rows_bytes
from montemap.credit.bulk_fields import (
    _one_header,
    _split_header,
    plain_decimals,
    shared_header,
    split_plain,
    split_rows,
)
from montemap.credit.loans import RANGES
from tests.credit.test_batch_fast_paths import _base

#: Bytes a row may hold: plain ones, separators, and each kind the plain check refuses.
_BYTES = [*"0123456789abc.-/ ", ",", ",", ",", '"', "\t", "\r", "\x7f", "é"]


def _rows(rand: random.Random, rows: int, width: int, damage: float) -> bytes:
    lines = []
    for _ in range(rows):
        fields = ["".join(rand.choice("0123456789ab./") for _ in range(rand.randint(0, 5)))]
        fields += [
            "".join(rand.choice("0123456789ab./") for _ in range(rand.randint(0, 5)))
            for _ in range(width - 1)
        ]
        line = ",".join(fields)
        if rand.random() < damage:  # one byte of another kind somewhere in the row
            at = rand.randint(0, len(line))
            line = line[:at] + rand.choice(_BYTES) + line[at:]
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("seed", range(40))
def test_split_plain_is_the_plain_check_and_the_cut(seed: int) -> None:
    rand = random.Random(seed)
    width, rows = rand.randint(1, 8), rand.choice([1, 2, 7, 64, 400])
    joined = _rows(rand, rows, width, damage=rand.choice([0.0, 0.0, 0.01, 0.3]))
    indices = rand.sample(range(width), rand.randint(1, width))
    got = split_plain(joined, rows, width, indices)
    plain = bulk_parse._plain_rows(joined, rows, width)
    if not plain.all():
        assert got is None
        return
    assert got is not None
    wanted = {f"c{i}": i for i in indices}
    expected = split_rows(joined, rows, width, wanted)
    assert got.to_pylist() == [v for name in wanted for v in expected[name].to_pylist()]


def test_split_plain_refuses_each_kind_of_odd_row() -> None:
    good = b"1,2,3\n4,5,6\n"
    assert split_plain(good, 2, 3, [2, 0]) is not None
    for bad in (b'1,"2",3\n4,5,6\n', b"1,2\t,3\n4,5,6\n", b"1,2,3\r\n4,5,6\n", b"1,2,3,\n4,5\n"):
        assert split_plain(bad, 2, 3, [0]) is None, bad
    assert split_plain("1,é,3\n4,5,6\n".encode(), 2, 3, [0]) is None
    assert split_plain(b"", 0, 3, [0]) is None


def test_every_range_at_once_is_each_column_alone() -> None:
    names = tuple(RANGES)
    rng = np.random.default_rng(3)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1e12, -1e12, 100.0, 1200.0, 850.0]
    values = np.empty((len(names), 600))
    for i, name in enumerate(names):
        lo, hi, _, _ = RANGES[name]
        edges = [lo, hi, np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)]
        pool = np.array(specials + edges + list(rng.uniform(max(lo, -1e13), min(hi, 1e13), 20)))
        values[i] = rng.choice(pool, 600)
    got = bulk_parse._ranged(values, names)
    for i, name in enumerate(names):
        lo, hi, lo_open, hi_open = RANGES[name]
        for value, inside in zip(values[i].tolist(), got[i].tolist(), strict=True):
            expected = lo <= value <= hi and not (lo_open and value == lo)
            expected = expected and not (hi_open and value == hi)
            assert inside == expected, (name, value)


def _decimal(text: str) -> bool:
    return (
        all(c in "0123456789." for c in text)
        and text.count(".") <= 1
        and any(c.isdigit() for c in text)
    )


def test_plain_decimals_of_digits_and_dots_only() -> None:
    rand = random.Random(5)
    tokens = ["", ".", "..", "0", "5.", ".5", "1.2.3", "12345678901234567890", "007"]
    tokens += [
        "".join(rand.choice("0123456789..") for _ in range(rand.randint(0, 9))) for _ in range(3000)
    ]
    arr = pa.array(["pad", *tokens, "pad"], pa.string()).slice(1, len(tokens))
    assert plain_decimals(arr).tolist() == [_decimal(t) for t in tokens]
    mixed = pa.array([*tokens, "1e5", "-1", "x"], pa.string())  # other bytes: counted
    assert plain_decimals(mixed).tolist() == [_decimal(t) for t in mixed.to_pylist()]


def test_the_kept_threshold_is_ndtri_of_the_repriced_pd() -> None:
    base = _base()
    for sc in model.scenarios(base, [0, 150, -300], model.ModelParams()):
        assert sc.threshold is not None
        expected = special.ndtri(sc.pd_repriced)
        assert sc.threshold.tobytes() == expected.tobytes()
        bare = model.Scenario(**{**sc.__dict__, "threshold": None})
        assert _threshold(bare).tobytes() == expected.tobytes()
        assert _threshold(sc) is sc.threshold


def _table(rows: int, scenarios: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = rows * scenarios
    return pa.table(
        {
            "key": pa.array([f"k{i % max(rows, 1):07d}" for i in range(n)], pa.string()),
            "x": rng.standard_normal(n),
            "b": pa.array(rng.random(n) < 0.5),
            "m": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.2),
        }
    )


def test_rows_written_into_the_kept_buffer_are_the_streams_bytes() -> None:
    if hasattr(_scratch, "buffer"):
        del _scratch.buffer
    for rows, seed in ((391, 1), (400, 2), (0, 3), (1, 4), (9000, 5), (391, 6), (30000, 7)):
        table = _table(rows, 4, seed)
        # the first call and every file bigger than the kept buffer take the stream
        assert encode_rows_bytes(table, 4) == encode_rows(table, 4).to_pybytes()
    assert _scratch.buffer.size >= len(encode_rows(_table(30000, 4, 7), 4).to_pybytes())
    with pytest.raises(ValueError):
        encode_rows_bytes(_table(5, 4, 8).slice(1), 4)


def test_each_thread_writes_into_its_own_buffer() -> None:
    tables = [_table(300 + 7 * i, 3, i) for i in range(6)]
    expected = [encode_rows(t, 3).to_pybytes() for t in tables]
    errors: list[Any] = []

    def work(i: int) -> None:
        try:
            for _ in range(30):
                for j in range(len(tables)):
                    k = (i + j) % len(tables)
                    if encode_rows_bytes(tables[k], 3) != expected[k]:
                        errors.append((i, k))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_the_header_found_by_searches_is_the_one_cut_out() -> None:
    rand = random.Random(11)
    quick = 0
    for _ in range(4000):
        head = rand.choice([b"h\n", b"ab,c\n", b"\n", b"h"])
        bodies: list[bytes] = []
        for _ in range(rand.randint(1, 5)):
            row = bytes(rand.choice(b"abch,\n") for _ in range(rand.randint(0, 5)))
            end = b"\n" if rand.random() < 0.9 else b""
            bodies.append((head if rand.random() < 0.9 else b"ab\n") + row + end)
        joined = b"".join(bodies)
        for limit in (1 << 20, 7):
            found = _one_header(bodies, limit)
            if found is not None:  # where the searches decide, the split agrees
                quick += 1
                assert found == _split_header(bodies, joined, limit), bodies
            assert shared_header(bodies, limit) == _split_header(bodies, joined, limit)
    assert quick > 300
    # a data line that ends with the header line's text, an empty header line
    for bodies in ([b"h\n,bh\n", b"h\nxh\n"], [b"\nb\n", b"\nc,\n"]):
        found = _one_header(bodies, 1 << 20)
        assert found == _split_header(bodies, b"".join(bodies), 1 << 20) is not None


def test_the_usual_batch_takes_the_searches() -> None:
    head = b"AccountID,ZipCode,Rate\n"
    bodies: list[object] = [head + f"{i},0213{i % 10},5.5\n".encode() for i in range(400)]
    found = _one_header(bodies, 1 << 20)
    assert found == (head, b"".join(b[len(head) :] for b in bodies))  # type: ignore[index]
