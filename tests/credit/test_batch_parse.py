"""The batch path's vectorised parser against the per-row parser: over every malformed and
odd object the tests know, generated portfolios and randomly damaged records, both give
the same loans (bit for bit, in the same order), the same rejects with the same reasons,
and the same counts."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from montemap.credit.bulk_parse import parse_objects
from montemap.credit.generator import generate
from montemap.credit.loans import (
    Loan,
    LoanArrays,
    Reject,
    defaults_applied,
    overrides_used,
    parse_object,
)
from montemap.credit.objects import Item, read_objects
from montemap.credit.portfolio import SOURCE_BUCKET, Destination, data_key
from montemap.storage import LocalObjectStore, ObjectStore
from tests.credit.helpers import csv_bytes, portfolio, record
from tests.credit.malformed import MALFORMED, ODD
from tests.storage.s3_server import moto_endpoint, reset_moto, s3_store

__all__ = ["moto_endpoint", "reset_moto", "s3_store"]

AS_OF = dt.date(2026, 11, 27)
TOKENS = [
    "",
    " ",
    "0",
    "-1",
    "1e999",
    "abc",
    "12.5",
    "+3",
    ".5",
    "01/02/2020",
    "2020-02-30",
    "commercial",
    "FIXED",
    "\u0663",
    "1,2",
    '"q"',
    "\t7",
    "9" * 20,
    "nan",
    "-0",
]


def _per_row(
    keys: list[str], bodies: list[bytes | Reject], as_of: dt.date | None
) -> tuple[LoanArrays, list[Reject], dict[str, int], dict[str, int]]:
    loans: list[Loan] = []
    rejects: list[Reject] = []
    for key, body in zip(keys, bodies, strict=True):
        if isinstance(body, Reject):
            rejects.append(body)
            continue
        got, bad = parse_object(key, body, as_of)
        loans.extend(got)
        rejects.extend(bad)
    return LoanArrays.from_loans(loans), rejects, defaults_applied(loans), overrides_used(loans)


def _same(keys: list[str], bodies: list[bytes | Reject], as_of: dt.date | None = AS_OF) -> int:
    arrays, rejects, applied, overrides = _per_row(keys, bodies, as_of)
    parsed = parse_objects(keys, bodies, as_of)
    assert [(r.key, r.reason) for r in parsed.rejects] == [(r.key, r.reason) for r in rejects]
    assert parsed.defaults_applied == applied
    assert parsed.overrides == overrides
    for name in LoanArrays.__dataclass_fields__:
        want, got = getattr(arrays, name), getattr(parsed.arrays, name)
        assert got.dtype == want.dtype, name
        if want.dtype == object:
            assert got.tolist() == want.tolist(), name
        else:
            assert got.tobytes() == want.tobytes(), name
    return len(arrays)


def test_malformed_and_odd_objects() -> None:
    bodies: list[bytes | Reject] = [data for data, _ in MALFORMED]
    bodies += ODD
    bodies += [csv_bytes([rec]) for rec in portfolio(30)]
    bodies.append(Reject("gone.csv", "cannot read object: no object"))
    keys = [f"k/{i:03d}.csv" for i in range(len(bodies))]
    loans = _same(keys, bodies)
    # five odd objects are rejected (two for digits other than ASCII), one holds two good
    # rows: 30 generated loans besides
    assert loans == len(ODD) - 5 + 1 + 30
    for data, reason in MALFORMED:
        assert [r.reason for r in parse_objects(["k"], [data], AS_OF).rejects] == [reason]
    # each object alone, and without an analysis date
    for i, body in enumerate(bodies):
        _same([keys[i]], [body], None)


def test_random_damage_to_records() -> None:
    rnd = random.Random(13)
    recs = portfolio(400, seed=9)
    bodies: list[bytes | Reject] = []
    for rec in recs:
        if rnd.random() < 0.5:
            rec[rnd.choice(list(rec))] = rnd.choice(TOKENS)
        bodies.append(csv_bytes([rec]))
    keys = [f"data/{i:04d}.csv" for i in range(len(bodies))]
    assert 0 < _same(keys, bodies) < 400


@pytest.mark.parametrize("layout", ["realistic", "seed"])
def test_generated_portfolio_read_from_the_store(tmp_path: Path, layout: str) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    generate(Destination(store, SOURCE_BUCKET), 900, layout=layout, seed=3, as_of=AS_OF)  # type: ignore[arg-type]
    items = [Item(SOURCE_BUCKET, data_key(i, 900)) for i in range(1, 901)]
    items.append(Item(SOURCE_BUCKET, "data/missing.csv"))
    items.append(Item(SOURCE_BUCKET, "../escape.csv"))
    store.put(SOURCE_BUCKET, "data/extra.csv", csv_bytes([record(AccountID="5")]))
    (Path(store.root) / SOURCE_BUCKET / "data" / "link.csv").symlink_to("extra.csv")
    items += [Item(SOURCE_BUCKET, "data/link.csv"), Item(SOURCE_BUCKET, "data")]
    bodies = read_objects(store, items)
    assert bodies[-2] == store.get(SOURCE_BUCKET, "data/extra.csv")
    assert all(isinstance(b, Reject) for b in bodies[-4:-2]) and isinstance(bodies[-1], Reject)
    assert bodies[:900] == [store.get(SOURCE_BUCKET, it.key) for it in items[:900]]
    assert _same([it.key for it in items], bodies) == 901


def test_an_s3_store_is_read_through_its_interface(s3_store: ObjectStore) -> None:
    s3_store.create_bucket("loans-bucket")
    bodies_in = [data for data, _ in MALFORMED[:5]] + [csv_bytes([r]) for r in portfolio(5)]
    keys = [f"data/{i:02d}.csv" for i in range(len(bodies_in))]
    for key, body in zip(keys, bodies_in, strict=True):
        s3_store.put("loans-bucket", key, body)
    items = [Item("loans-bucket", k) for k in [*keys, "data/missing.csv"]]
    bodies = read_objects(s3_store, items)
    assert bodies[:-1] == bodies_in
    missing = bodies[-1]
    assert isinstance(missing, Reject) and missing.reason.startswith("cannot read object")
    assert _same([it.key for it in items], bodies) == 5
