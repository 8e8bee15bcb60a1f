"""The batch handler's session-22 shortcuts change no byte: ``paths.npz`` from a template
against ``np.savez``, the whole-list item check against the per-item one (and its errors),
rows already in key order against the permuted path, the batch's directory found once
against per-key lookups, and the shared-header split and the fixed-form dates against
per-object references."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from montemap.credit import batch
from montemap.credit.batch import handle_batch, parse_items
from montemap.credit.batch_npz import npz_bytes
from montemap.credit.bulk_fields import fixed_dates, shared_header
from montemap.credit.objects import Item, _read_local, _target, _targets, read_objects
from montemap.credit.params import BatchInputError
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio

SRC = "montemap-source"
OUT = "montemap-results"


def _savez(arrays: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("shape", [(4, 1000), (1, 1), (3, 0), (7, 333)])
def test_npz_bytes_are_np_savez_bytes(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(3):  # the template is made once, then filled again and again
        arrays = {
            "shocks_bp": rng.integers(-500, 500, shape[0]),
            "loss_cents": rng.integers(0, 1 << 40, shape),
            "defaults": rng.integers(0, 400, shape).astype(np.int64),
        }
        assert npz_bytes(arrays) == _savez(arrays)
        with np.load(io.BytesIO(npz_bytes(arrays))) as npz:
            for name, array in arrays.items():
                assert np.array_equal(npz[name], array)


def test_npz_bytes_of_other_layouts_are_np_savez_bytes() -> None:
    fortran = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    cases: list[dict[str, Any]] = [
        {"a": fortran},  # not C-contiguous: np.savez itself
        {"a": np.arange(5, dtype=">i4"), "b": np.float32(3.5) * np.ones((2, 2), np.float32)},
        {"a": np.zeros(0, dtype=np.int64)},
        {"a": np.array(7, dtype=np.int16)},  # no dimensions
    ]
    for arrays in cases:
        assert npz_bytes(arrays) == _savez(arrays)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([{"Bucket": "b", "Key": "k1"}, {"Bucket": "b", "Key": "k2", "Size": 3}], None),
        ([{"Bucket": "b", "Key": "k"}, {"Bucket": "", "Key": "k"}], "Items[1].Bucket"),
        ([{"Bucket": "b", "Key": "k"}, {"Bucket": "b", "Key": ""}], "Items[1].Key"),
        ([{"Bucket": "b", "Key": "k"}, {"Bucket": "b"}], "Items[1].Key"),
        ([{"Bucket": "b", "Key": "k"}, {"Bucket": 3, "Key": "k"}], "Items[1].Bucket"),
        ([{"Bucket": "b", "Key": "k"}, ["b", "k"]], "Items[1] must be an object"),
        ([{"Bucket": "b", "Key": "k"}, {"Bucket": "b", "Key": b"k"}], "Items[1].Key"),
    ],
)
def test_items_checked_at_once_are_the_items_checked_one_by_one(
    value: list[Any], error: str | None
) -> None:
    fast = batch._plain_items(value)
    if error is None:
        assert fast == parse_items(value) == [Item(e["Bucket"], e["Key"]) for e in value]
        assert fast is not None and all(type(item) is Item for item in fast)
    else:  # declined: the per-item check names the bad item, as before
        assert fast is None
        with pytest.raises(BatchInputError, match=error.replace("[", r"\[").replace("]", r"\]")):
            parse_items(value)


def test_items_of_a_str_subclass_still_pass() -> None:
    class Name(str):
        pass

    value = [{"Bucket": Name("b"), "Key": Name("k")}]
    assert batch._plain_items(value) is None
    assert parse_items(value) == [Item("b", "k")]


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path / "buckets")
    s.create_bucket(SRC)
    for i, rec in enumerate(portfolio(24, seed=9), start=1):
        s.put(SRC, f"data/data-gen-{i:06d}.csv", csv_bytes([rec]))
    return s


def _event(keys: list[str], bucket: str = OUT) -> dict[str, Any]:
    params = {"output_bucket": bucket, "output_prefix": "r", "paths": 64, "seed": 3}
    params |= {"as_of": "2026-11-27", "shocks_bp": [0, 150, 300]}
    return {"Items": [{"Bucket": SRC, "Key": k} for k in keys], "BatchInput": params}


def _outputs(store: LocalObjectStore, bucket: str) -> dict[str, bytes]:
    root = Path(store.root) / bucket
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_rows_in_key_order_skip_the_permutation_and_write_the_same(
    store: LocalObjectStore,
) -> None:
    keys = [f"data/data-gen-{i:06d}.csv" for i in range(1, 25)]
    shuffled = keys[:]
    random.Random(2).shuffle(shuffled)
    assert batch._key_order(np.array(keys, dtype=object)) is None
    order = batch._key_order(np.array(shuffled, dtype=object))
    assert order is not None and [shuffled[i] for i in order] == keys
    # the same loans in either order: the same rows (the batch id differs with the order)
    sorted_out = handle_batch(_event(keys, "out-sorted"), None, store=store)
    shuffled_out = handle_batch(_event(shuffled, "out-shuffled"), None, store=store)
    a, b = _outputs(store, "out-sorted"), _outputs(store, "out-shuffled")
    rows = {name.rsplit("/", 1)[1]: data for name, data in a.items()}
    other = {name.rsplit("/", 1)[1]: data for name, data in b.items()}
    assert rows["loans.arrow"] == other["loans.arrow"]
    assert rows["paths.npz"] == other["paths.npz"]  # exact integer sums, any loan order
    first, second = json.loads(rows["batch.json"]), json.loads(other["batch.json"])
    where = ("batch_id", "params")  # the batch's id and bucket
    assert {k: v for k, v in first.items() if k not in where} == {
        k: v for k, v in second.items() if k not in where
    }
    assert sorted_out["loans"] == shuffled_out["loans"]


def test_the_output_bucket_is_made_when_missing(store: LocalObjectStore) -> None:
    keys = [f"data/data-gen-{i:06d}.csv" for i in range(1, 5)]
    assert not store.bucket_exists("fresh-bucket")
    handle_batch(_event(keys, "fresh-bucket"), None, store=store)
    assert store.bucket_exists("fresh-bucket")
    first = _outputs(store, "fresh-bucket")
    shutil.rmtree(Path(store.root) / "fresh-bucket")  # gone between two batches
    handle_batch(_event(keys, "fresh-bucket"), None, store=store)  # made again
    assert _outputs(store, "fresh-bucket") == first


def test_one_directory_batches_find_what_per_key_lookups_find(store: LocalObjectStore) -> None:
    root = Path(store.root) / SRC
    os.makedirs(root / "deep" / "er")
    store.put(SRC, "deep/er/x.csv", b"x")
    store.put(SRC, "top.csv", b"t")
    store.create_bucket("other-bucket")
    store.put("other-bucket", "data/data-gen-000004.csv", b"elsewhere")
    (root / "data" / "link.csv").symlink_to("data-gen-000001.csv")
    plain = [Item(SRC, f"data/data-gen-{i:06d}.csv") for i in range(1, 25)]
    batches = [
        plain,
        [Item(SRC, "top.csv")],
        [*plain[:3], Item(SRC, "deep/er/x.csv")],  # one key deeper
        [*plain[:3], Item(SRC, "top.csv")],  # one key shallower
        [*plain[:3], Item("other-bucket", plain[3].key)],
        [*plain[:3], Item(SRC, "data/../top.csv"), Item(SRC, "data/.hidden")],
        [*plain[:3], Item(SRC, "data/link.csv"), Item(SRC, "data/missing.csv")],
        [Item(SRC, "dat"), Item(SRC, "data/data-gen-000002.csv")],
        [*plain[:3], Item(SRC, "data/a\nb.csv")],  # a newline in a key: key by key
    ]
    for items in batches:
        fast_dirs: dict[tuple[str, str], int] = {}
        slow_dirs: dict[tuple[str, str], int] = {}
        try:
            dfds, names = _targets(store, items, fast_dirs)
            slow = [_target(store, item, slow_dirs) for item in items]
            assert names == [name if dfd >= 0 else names[i] for i, (dfd, name) in enumerate(slow)]
            assert [d >= 0 for d in dfds] == [d >= 0 for d, _ in slow]
            for dfd, (other, _) in zip(dfds, slow, strict=True):
                if dfd >= 0:
                    assert os.path.samestat(os.fstat(dfd), os.fstat(other))
        finally:
            for dfd in [*fast_dirs.values(), *slow_dirs.values()]:
                if dfd >= 0:
                    os.close(dfd)
        got = read_objects(store, items)
        assert got == [_store_read(store, item) for item in items]
        assert _read_local(store, items) == got


def _store_read(store: LocalObjectStore, item: Item) -> object:
    from montemap.credit.objects import fetch_object

    return fetch_object(store, item)


def _shared_reference(bodies: list[bytes], limit: int) -> tuple[bytes, bytes] | None:
    """``shared_header`` object by object: each body a header line and one non-empty
    data line, every header the same, none over the limit."""
    if not bodies:
        return None
    heads, rows = [], []
    for body in bodies:
        if len(body) > limit or body.count(b"\n") != 2 or not body.endswith(b"\n"):
            return None
        head, row = body[: body.index(b"\n") + 1], body[body.index(b"\n") + 1 :]
        if row == b"\n":
            return None
        heads.append(head)
        rows.append(row)
    return (heads[0], b"".join(rows)) if heads.count(heads[0]) == len(heads) else None


def test_shared_header_agrees_with_a_per_object_reference() -> None:
    rand = random.Random(1)
    found = 0
    for _ in range(5_000):
        head = rand.choice([b"h\n", b"hh\n", b"h,x\n"])
        bodies = []
        for _ in range(rand.randint(0, 4)):
            if rand.random() < 0.7:
                row = bytes(rand.choice(b"ab,\n") for _ in range(rand.randint(0, 4)))
                bodies.append(head + row + (b"\n" if rand.random() < 0.8 else b""))
            else:
                bodies.append(bytes(rand.choice(b"hab,\n") for _ in range(rand.randint(0, 8))))
        limit = rand.choice([1 << 20, 6])
        expected = _shared_reference(bodies, limit)
        assert shared_header(bodies, limit) == expected, (bodies, limit)
        found += expected is not None
    assert found > 100  # the plain layout is drawn often enough to be tested


def _dates_reference(tokens: list[str]) -> tuple[list[int], list[int], list[int]] | None:
    out: tuple[list[int], list[int], list[int]] = ([], [], [])
    for token in tokens:
        us = re.fullmatch(r"([0-9]{2})/([0-9]{2})/([0-9]{4})", token)
        iso = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", token)
        if us:
            fields = (us.group(3), us.group(1), us.group(2))
        elif iso:
            fields = (iso.group(1), iso.group(2), iso.group(3))
        else:
            return None
        for column, text in zip(out, fields, strict=True):
            column.append(int(text))
    return out


def test_fixed_dates_agree_with_a_per_string_reference() -> None:
    rand = random.Random(2)
    found = 0
    for _ in range(2_000):
        tokens = []
        for _ in range(rand.randint(0, 5)):
            r = rand.random()
            if r < 0.4:
                tokens.append(
                    f"{rand.randint(0, 99):02d}/{rand.randint(0, 99):02d}/{rand.randint(0, 9999):04d}"
                )
            elif r < 0.8:
                tokens.append(
                    f"{rand.randint(0, 9999):04d}-{rand.randint(0, 99):02d}-{rand.randint(0, 99):02d}"
                )
            else:
                size = rand.choice([9, 10, 10, 11])
                tokens.append("".join(rand.choice("0123456789/-a") for _ in range(size)))
        arr = pa.array(["pad", *tokens, "p"], pa.string()).slice(1, len(tokens))
        expected = _dates_reference(tokens)
        got = fixed_dates(arr)
        if expected is None:
            assert got is None, tokens
            continue
        assert got is not None, tokens
        assert [g.tolist() for g in got] == list(expected), tokens
        assert all(g.dtype == np.int64 for g in got)
        found += bool(tokens)
    assert found > 400
