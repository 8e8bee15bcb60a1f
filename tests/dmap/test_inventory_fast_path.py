"""S3 Inventory rows read many plain lines at a time: the same rows, batches, texts and errors.

The oracle is the line-by-line reader: ``csv.reader`` over ``io.TextIOWrapper`` (gzip by
content), one object per row, the rows fed one by one to the ItemBatcher (no ``take``,
so no text made by the reader). Whatever the inventory holds (plain lines, odd lines at
the edges of the 8 KiB reads, quotes, commas, non-ASCII, empty fields, ``\\r\\n``, no
final newline, invalid UTF-8, a cut gzip stream, a row of the wrong width), the
reader must give the same rows, the ItemBatcher the same batches with the same texts
(``json.dumps``, compact), and both the same error after the same rows and batches.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.engine.decoded_lines import CHUNK_BYTES
from montemap.engine.inventory_rows import InventoryRows, _all_plain, plain_lines
from montemap.engine.item_batcher import batch_items
from montemap.engine.item_reader import read_items
from montemap.engine.reader_config import reader_failure
from montemap.errors import StatesError
from montemap.storage import LocalObjectStore

SCHEMA = ("Bucket", "Key", "Size")
BATCH_INPUT = {"output_bucket": "results", "seed": 1}


# ------------------------------------------------------------------------------ inventories
def plain_line(rng: random.Random, i: int) -> str:
    return f'"src","data/{"k" * rng.randrange(0, 40)}-{i}.json","{rng.randrange(0, 10**6)}"\n'


ODD_LINES = [
    '"src","a,b-{i}","1"\n',  # a comma inside quotes (still plain)
    '"src","say ""{i}""","1"\n',  # an escaped quote
    '"src","café-{i}","1"\n',  # non-ASCII
    '"src","","{i}"\n',  # an empty field (still plain)
    "src,unquoted-{i},1\n",
    "\n",  # a blank line
    '"src","tab\there-{i}","1"\n',
    '"src","back\\slash-{i}","1"\n',
    '"src","line\nbreak-{i}","1"\n',  # a quoted newline
    '"src","crlf-{i}","1"\r\n',
    '"src","cr-{i}","1"\r',
    '"src", "space-{i}","1"\n',
]


def inventory_text(rng: random.Random, n: int, odd_share: float) -> str:
    """``n`` lines, mostly plain, odd ones placed at random and at the 8 KiB read edges."""
    lines: list[str] = []
    size = 0
    for i in range(n):
        edge = size // CHUNK_BYTES != (size + 60) // CHUNK_BYTES
        if rng.random() < odd_share or (odd_share and edge and rng.random() < 0.5):
            line = rng.choice(ODD_LINES).format(i=i)
        else:
            line = plain_line(rng, i)
        lines.append(line)
        size += len(line.encode())
    return "".join(lines)


def put_inventory(store: LocalObjectStore, parts: list[bytes]) -> dict[str, Any]:
    """The parts as an inventory's files; the ItemReader of its manifest."""
    store.create_bucket("inventory")
    keys = []
    for number, body in enumerate(parts):
        key = f"inv/part-{number}.csv.gz"
        store.put("inventory", key, body)
        keys.append({"key": key})
    manifest = {
        "destinationBucket": "arn:aws:s3:::inventory",
        "fileFormat": "CSV",
        "fileSchema": ", ".join(SCHEMA),
        "files": keys,
    }
    store.put("inventory", "inv/manifest.json", json.dumps(manifest).encode())
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": "inventory", "Key": "inv/manifest.json"},
        "ReaderConfig": {"InputType": "MANIFEST"},
    }


# ------------------------------------------------------------------------------ the oracle
def oracle_rows(store: LocalObjectStore, parts: int) -> Iterator[dict[str, str]]:
    """The line-by-line reader: csv.reader over TextIOWrapper, one object per row."""
    for number in range(parts):
        key = f"inv/part-{number}.csv.gz"
        where = f"s3://inventory/{key}"
        with store.open("inventory", key) as raw:
            assert isinstance(raw, io.BufferedReader)
            stream: Any = raw
            if raw.peek(2)[:2] == b"\x1f\x8b":
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
            rows = csv.reader(text, strict=True)
            try:
                for row in rows:
                    if len(row) == len(SCHEMA):
                        yield dict(zip(SCHEMA, row, strict=True))
                    elif row:
                        raise reader_failure(
                            f"{where} line {rows.line_num} has {len(row)} field(s); "
                            f"the manifest's fileSchema has {len(SCHEMA)}"
                        )
            except StatesError:
                raise
            except (EOFError, gzip.BadGzipFile) as exc:
                raise reader_failure(f"{where} is not a valid gzip file: {exc}")
            except csv.Error as exc:
                raise reader_failure(f"{where} line {rows.line_num} is not valid CSV: {exc}")
            except UnicodeDecodeError as exc:
                raise reader_failure(
                    f"{where} is not valid UTF-8 text (byte offset {exc.start} of a chunk)"
                )


def drain(items: Iterator[Any]) -> tuple[list[Any], str | None]:
    """The items until the end or an error; the error's cause."""
    got: list[Any] = []
    try:
        for item in items:
            got.append(item)
    except StatesError as exc:
        return got, exc.cause
    return got, None


def batched(
    items: Iterator[Any], max_items: int | None, max_bytes: int | None, batch_input: Any
) -> tuple[list[tuple[list[Any], str]], str | None]:
    """Each batch's items and text until the end or an error; the error's cause."""
    batches = batch_items(items, max_items=max_items, max_bytes=max_bytes, batch_input=batch_input)
    got: list[tuple[list[Any], str]] = []
    try:
        for batch in batches:
            text = batches.text(batch)
            assert text == json.dumps(batch, separators=(",", ":"), ensure_ascii=False)
            got.append((batch["Items"], text))
    except StatesError as exc:
        return got, exc.cause
    return got, None


def check_same(
    store: LocalObjectStore, spec: dict[str, Any], parts: int, max_items: int | None = None
) -> tuple[InventoryRows, str | None]:
    """Rows and batches as the oracle's, every way; the reader of the last batching and the
    oracle's error."""
    expected = drain(oracle_rows(store, parts))
    if max_items:
        spec = {**spec, "ReaderConfig": {**spec["ReaderConfig"], "MaxItems": max_items}}
        expected = (expected[0][:max_items], expected[1] if len(expected[0]) < max_items else None)
    assert drain(read_items(store, spec)) == expected
    reader: Any = None
    for count, size, batch_input in ((400, None, BATCH_INPUT), (7, None, None), (None, 3000, None)):
        reader = read_items(store, spec)
        rows, error = expected
        want = batched(iter(rows), count, size, batch_input)
        if error is not None:  # the oracle's rows, then its error
            want = batched(_then_fail(rows, error), count, size, batch_input)
        assert batched(reader, count, size, batch_input) == want
    assert isinstance(reader, InventoryRows)
    return reader, expected[1]


def _then_fail(rows: list[Any], cause: str) -> Iterator[Any]:
    yield from rows
    raise reader_failure(cause)


# ------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("odd_share", [0.0, 0.01, 0.2, 1.0])
@pytest.mark.parametrize("seed", [1, 2])
def test_rows_batches_and_texts_are_the_oracles(
    local: LocalObjectStore, odd_share: float, seed: int
) -> None:
    rng = random.Random(seed)
    texts = [inventory_text(rng, rng.randrange(300, 1500), odd_share) for _ in range(3)]
    parts = [gzip.compress(texts[0].encode()), texts[1].encode(), gzip.compress(texts[2].encode())]
    reader, _ = check_same(local, put_inventory(local, parts), 3)
    if odd_share == 0.0:  # the fast path was taken for every row
        assert reader.plain_rows == sum(text.count("\n") for text in texts) > 0


@pytest.mark.parametrize("max_items", [1, 5, 401, 2000])
def test_max_items(local: LocalObjectStore, max_items: int) -> None:
    rng = random.Random(max_items)
    parts = [gzip.compress(inventory_text(rng, 700, 0.05).encode()) for _ in range(2)]
    check_same(local, put_inventory(local, parts), 2, max_items)


@pytest.mark.parametrize(
    "ending",
    [
        "",  # no final newline
        "\r\n",
        "\n\n\n",
        '"src","last","1"',  # the last line without its newline
        '"src","last",',  # a wrong field count on the last line
    ],
)
def test_endings(local: LocalObjectStore, ending: str) -> None:
    text = inventory_text(random.Random(3), 500, 0.0)
    for body in (text.rstrip("\n") + ending, "\ufeff" + text + ending):
        put = put_inventory(local, [gzip.compress(body.encode())])
        check_same(local, put, 1)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.99])
def test_a_bad_row_fails_after_the_same_batches(local: LocalObjectStore, where: float) -> None:
    text = inventory_text(random.Random(4), 2000, 0.0)
    cut = text.index("\n", int(len(text) * where)) + 1
    bodies = [text[:cut] + '"src","short"\n' + text[cut:], text[:cut] + '"x"y,"1","2"\n']
    for body, error in zip(bodies, ("has 2 field(s)", "is not valid CSV"), strict=True):
        _, cause = check_same(local, put_inventory(local, [gzip.compress(body.encode())]), 1)
        assert cause is not None and error in cause


@pytest.mark.parametrize("where", [0.0, 0.3, 0.7])
def test_invalid_utf8_fails_after_the_same_batches(local: LocalObjectStore, where: float) -> None:
    data = inventory_text(random.Random(5), 2000, 0.01).encode()
    at = int(len(data) * where)
    body = data[:at] + b"\xff\xfe" + data[at:]
    _, cause = check_same(
        local, put_inventory(local, [gzip.compress(data), gzip.compress(body)]), 2
    )
    assert cause is not None and "part-1.csv.gz is not valid UTF-8" in cause


@pytest.mark.parametrize("keep", [0.2, 0.6, 0.95])
def test_a_cut_gzip_stream_fails_after_the_same_batches(
    local: LocalObjectStore, keep: float
) -> None:
    body = gzip.compress(inventory_text(random.Random(6), 3000, 0.0).encode())
    corrupt = bytearray(body)
    corrupt[len(body) // 2] ^= 0xFF
    _, cause = check_same(local, put_inventory(local, [body, body[: int(len(body) * keep)]]), 2)
    assert cause is not None and "part-1.csv.gz is not a valid gzip file" in cause
    _, cause = check_same(local, put_inventory(local, [body, bytes(corrupt)]), 2)
    assert cause is not None and "part-1.csv.gz" in cause  # gzip, UTF-8 or CSV: as it decodes


def test_odd_schema_names_take_the_general_path(local: LocalObjectStore) -> None:
    """Keys that need escaping: no template, every row read by csv.reader."""
    text = inventory_text(random.Random(7), 600, 0.0)
    spec = put_inventory(local, [gzip.compress(text.encode())])
    manifest = json.loads(local.get("inventory", "inv/manifest.json"))
    manifest["fileSchema"] = 'Bucket, Ké"y, Size'
    local.put("inventory", "inv/manifest.json", json.dumps(manifest).encode())
    reader = read_items(local, spec)
    rows, error = drain(reader)
    assert error is None and len(rows) == 600 and rows[0]['Ké"y'].startswith("data/")
    assert isinstance(reader, InventoryRows) and reader.plain_rows == 0


def test_crlf_lines_take_the_fast_path(local: LocalObjectStore) -> None:
    text = inventory_text(random.Random(8), 900, 0.0).replace("\n", "\r\n")
    reader, error = check_same(local, put_inventory(local, [gzip.compress(text.encode())]), 1)
    assert error is None and reader.plain_rows == 900


@pytest.mark.parametrize("width", [1, 2, 3])
def test_all_plain_is_the_plain_lines_pattern(width: int) -> None:
    """The quick check of a whole block agrees with the pattern (less its ``\\r\\n`` line
    ends) and with csv.reader, on short random texts."""
    rng = random.Random(width)
    tokens = ['"', '"', '"', ",", "\n", "a", "", "\r", "\\", "é", "\t", '","', '"\n"']
    pattern = plain_lines(width)
    for _ in range(20_000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randrange(0, 12)))
        pos = rng.randrange(0, 2)
        plain = len(text) > pos and pattern.fullmatch(text, pos) is not None
        plain = (
            plain and "\r" not in text[pos:]
        )  # "\r\n" lines: the pattern's, not the quick check's
        fields = _all_plain(text, pos, width)
        if plain:
            assert fields is not None and [*csv.reader(io.StringIO(text[pos:]))] == [
                fields[i : i + width] for i in range(0, len(fields), width)
            ]
        else:
            assert fields is None, text
