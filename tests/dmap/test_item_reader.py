"""ItemReader: every input type, MaxItems, and every failure with its cause."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

from montemap.engine.item_reader import read_items
from montemap.errors import StatesError
from montemap.storage import LocalObjectStore, ObjectStore

GET = "arn:aws:states:::s3:getObject"
LIST = "arn:aws:states:::s3:listObjectsV2"


def reader(input_type: str, key: str, bucket: str = "data", **config: Any) -> dict[str, Any]:
    return {
        "Resource": GET,
        "Parameters": {"Bucket": bucket, "Key": key},
        "ReaderConfig": {"InputType": input_type, **config},
    }


def read(store: ObjectStore, spec: dict[str, Any], **kwargs: Any) -> list[Any]:
    return list(read_items(store, spec, **kwargs))


def failure(store: ObjectStore, spec: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(StatesError) as err:
        read(store, spec, **kwargs)
    assert err.value.error == "States.ItemReaderFailed"
    assert err.value.cause
    return err.value.cause


# ------------------------------------------------------------------------------ JSON


def test_json_array(local: LocalObjectStore) -> None:
    items = [{"verdict": "true", "n": 1}, [1, 2], "text é", 3.5, None, True, {"nested": {"a": []}}]
    local.put("data", "in.json", json.dumps(items, indent=2).encode())
    assert read(local, reader("JSON", "in.json")) == items


def test_json_empty_array_and_whitespace(local: LocalObjectStore) -> None:
    local.put("data", "empty.json", b"  \n [ \n ] \n")
    assert read(local, reader("JSON", "empty.json")) == []


def test_json_with_byte_order_mark(local: LocalObjectStore) -> None:
    local.put("data", "bom.json", b"\xef\xbb\xbf[1, 2]")
    assert read(local, reader("JSON", "bom.json")) == [1, 2]


def test_json_values_across_chunk_boundaries(local: LocalObjectStore) -> None:
    # Numbers of every length end exactly at some chunk boundary; one string is
    # larger than a chunk.
    items: list[Any] = [i * 7919 % 10_000_019 for i in range(60_000)]
    items.insert(30_000, "x" * 200_000)
    items.append({"k": list(range(1000))})
    local.put("data", "big.json", json.dumps(items).encode())
    assert read(local, reader("JSON", "big.json")) == items


class CountingStore(LocalObjectStore):
    """A local store that counts the bytes its readers consume."""

    consumed = 0

    def open(self, bucket: str, key: str) -> BinaryIO:
        inner = super().open(bucket, key)
        store = self

        class Counting(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                data = inner.read(len(buffer))
                buffer[: len(data)] = data
                store.consumed += len(data)
                return len(data)

            def close(self) -> None:
                inner.close()
                super().close()

        return io.BufferedReader(Counting())


def test_json_is_streamed(local: LocalObjectStore) -> None:
    store = CountingStore(local.root)
    store.put("data", "huge.json", json.dumps([{"i": i} for i in range(300_000)]).encode())
    size = store.head("data", "huge.json").size
    items = read_items(store, reader("JSON", "huge.json"))
    assert next(items) == {"i": 0}
    assert store.consumed < 300 * 1024 < size
    items.close()  # type: ignore[attr-defined]


def test_json_that_is_not_an_array(local: LocalObjectStore) -> None:
    local.put("data", "obj.json", b'{"Items": [1, 2]}')
    assert failure(local, reader("JSON", "obj.json")) == "Attempting to map over non-iterable node."


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'[1,\n 2,\n {"a" 3}]', "line 3 column"),
        (b"[1 2]", "expected ',' or ']'"),
        (b"[1, 2", "line 1"),
        (b"[1, 2,]", "line 1 column 7"),
        (b"[1] trailing", "unexpected data after"),
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"[1, \xff]", "not valid UTF-8"),
        (b"{bad", "line 1 column 2"),
    ],
)
def test_malformed_json(local: LocalObjectStore, body: bytes, detail: str) -> None:
    local.put("data", "bad.json", body)
    cause = failure(local, reader("JSON", "bad.json"))
    assert "s3://data/bad.json" in cause or cause == "Attempting to map over non-iterable node."
    assert detail in cause


def test_malformed_json_after_many_chunks_names_the_line(local: LocalObjectStore) -> None:
    body = "[\n" + ",\n".join(str(i) for i in range(100_000)) + ",\nnope]"
    local.put("data", "late.json", body.encode())
    cause = failure(local, reader("JSON", "late.json"))
    assert "line 100002 column 1" in cause


# ------------------------------------------------------------------------------ JSONL


def test_jsonl(local: LocalObjectStore) -> None:
    local.put("data", "in.jsonl", b'{"a": 1}\r\n\n[2]\n"three"\n4')
    assert read(local, reader("JSONL", "in.jsonl")) == [{"a": 1}, [2], "three", 4]


def test_jsonl_invalid_line(local: LocalObjectStore) -> None:
    local.put("data", "bad.jsonl", b'{"a": 1}\n{"b": 2}\n{"c": }\n')
    cause = failure(local, reader("JSONL", "bad.jsonl"))
    assert cause.startswith("s3://data/bad.jsonl line 3 is not valid JSON")


# ------------------------------------------------------------------------------ CSV


def test_csv_first_row(local: LocalObjectStore) -> None:
    local.put(
        "data", "r.csv", b'\xef\xbb\xbfuserId,title\n1,"Toy Story, 1995"\n\n2,"multi\nline"\n'
    )
    assert read(local, reader("CSV", "r.csv", CSVHeaderLocation="FIRST_ROW")) == [
        {"userId": "1", "title": "Toy Story, 1995"},
        {"userId": "2", "title": "multi\nline"},
    ]


def test_csv_header_location_defaults_to_first_row(local: LocalObjectStore) -> None:
    local.put("data", "r.csv", b"a,b\n1,2\n")
    assert read(local, reader("CSV", "r.csv")) == [{"a": "1", "b": "2"}]


def test_csv_given_headers(local: LocalObjectStore) -> None:
    local.put("data", "r.csv", b"1,307,3.5\n1,481,3.5\n")
    spec = reader(
        "CSV", "r.csv", CSVHeaderLocation="GIVEN", CSVHeaders=["userId", "movieId", "rating"]
    )
    assert read(local, spec) == [
        {"userId": "1", "movieId": "307", "rating": "3.5"},
        {"userId": "1", "movieId": "481", "rating": "3.5"},
    ]


@pytest.mark.parametrize(
    ("name", "char"),
    [("COMMA", ","), ("PIPE", "|"), ("SEMICOLON", ";"), ("SPACE", " "), ("TAB", "\t")],
)
def test_csv_delimiters(local: LocalObjectStore, name: str, char: str) -> None:
    local.put("data", "d.csv", f"a{char}b\n1{char}x,y\n".replace("x,y", "x.y").encode())
    assert read(local, reader("CSV", "d.csv", CSVDelimiter=name)) == [{"a": "1", "b": "x.y"}]


def test_csv_empty_file_has_no_items(local: LocalObjectStore) -> None:
    local.put("data", "empty.csv", b"")
    assert read(local, reader("CSV", "empty.csv")) == []


@pytest.mark.parametrize("row", [b"1,2,3", b"1"])
def test_csv_row_with_the_wrong_number_of_fields(local: LocalObjectStore, row: bytes) -> None:
    local.put("data", "w.csv", b"a,b\n1,2\n" + row + b"\n")
    cause = failure(local, reader("CSV", "w.csv"))
    assert cause.startswith("s3://data/w.csv line 3 has ")
    assert "the CSV header has 2" in cause


def test_csv_duplicate_headers(local: LocalObjectStore) -> None:
    local.put("data", "dup.csv", b"a,a\n1,2\n")
    assert failure(local, reader("CSV", "dup.csv")) == "CSV headers cannot contain duplicates."
    spec = reader("CSV", "dup.csv", CSVHeaderLocation="GIVEN", CSVHeaders=["x", "x"])
    assert failure(local, spec) == "CSV headers cannot contain duplicates."


def test_csv_header_over_10_kib(local: LocalObjectStore) -> None:
    header = ",".join(f"column_{i:05d}" for i in range(1000))
    local.put("data", "wide.csv", header.encode() + b"\n")
    assert "10 KiB" in failure(local, reader("CSV", "wide.csv"))


def test_csv_bad_quoting_names_the_line(local: LocalObjectStore) -> None:
    local.put("data", "q.csv", b'a,b\n1,2\n"x"y,3\n')
    assert "s3://data/q.csv line 3 is not valid CSV" in failure(local, reader("CSV", "q.csv"))


# ------------------------------------------------------------------------------ MANIFEST


def gz_csv(rows: list[list[str]]) -> bytes:
    text = "".join(",".join(f'"{v}"' for v in row) + "\n" for row in rows)
    return gzip.compress(text.encode())


def put_manifest(
    store: ObjectStore, files: dict[str, bytes], overrides: dict[str, Any] | None = None
) -> None:
    store.create_bucket("inventory")
    for key, body in files.items():
        store.put("inventory", key, body)
    manifest = {
        "sourceBucket": "data",
        "destinationBucket": "arn:aws:s3:::inventory",
        "version": "2016-11-30",
        "creationTimestamp": "1668560400000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate",
        "files": [{"key": k, "size": len(v), "MD5checksum": "x"} for k, v in files.items()],
    }
    manifest.update(overrides or {})
    store.put("inventory", "inv/manifest.json", json.dumps(manifest).encode())


def test_manifest_items(local: LocalObjectStore) -> None:
    put_manifest(
        local,
        {
            "inv/data/1.csv.gz": gz_csv(
                [
                    ["data", "csvDataset/", "0", "2022-11-16T00:27:19.000Z"],
                    ["data", "csvDataset/titles.csv", "3399671", "2022-11-16T00:29:32.000Z"],
                ]
            ),
            "inv/data/2.csv.gz": gz_csv(
                [["data", "img/a, b.jpg", "27034", "2022-11-15T20:02:16.000Z"]]
            ),
        },
    )
    items = read(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert items == [
        {
            "Bucket": "data",
            "Key": "csvDataset/",
            "Size": "0",
            "LastModifiedDate": "2022-11-16T00:27:19.000Z",
        },
        {
            "Bucket": "data",
            "Key": "csvDataset/titles.csv",
            "Size": "3399671",
            "LastModifiedDate": "2022-11-16T00:29:32.000Z",
        },
        {
            "Bucket": "data",
            "Key": "img/a, b.jpg",
            "Size": "27034",
            "LastModifiedDate": "2022-11-15T20:02:16.000Z",
        },
    ]


def test_manifest_files_are_read_from_the_destination_bucket(local: LocalObjectStore) -> None:
    # The manifest sits in ``data``; its files in the destination bucket ``inventory``.
    put_manifest(local, {"inv/1.csv.gz": gz_csv([["data", "k", "1", "t"]])})
    local.put("data", "m.json", local.get("inventory", "inv/manifest.json"))
    assert read(local, reader("MANIFEST", "m.json"))[0]["Key"] == "k"


def test_manifest_max_items(local: LocalObjectStore) -> None:
    rows = [["data", f"k{i}", "1", "t"] for i in range(10)]
    put_manifest(local, {"a.csv.gz": gz_csv(rows[:5]), "b.csv.gz": gz_csv(rows[5:])})
    spec = reader("MANIFEST", "inv/manifest.json", bucket="inventory", MaxItems=7)
    assert [i["Key"] for i in read(local, spec)] == [f"k{i}" for i in range(7)]
    assert len(read(local, spec, max_items=2)) == 2


def test_manifest_plain_csv_parts_are_read_by_content(local: LocalObjectStore) -> None:
    rows = [["data", f"k{i}", str(i), "t"] for i in range(4)]
    plain = "".join(",".join(row) + "\n" for row in rows[2:]).encode()
    put_manifest(local, {"a.csv.gz": gz_csv(rows[:2]), "b.csv": plain})
    items = read(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert [i["Key"] for i in items] == ["k0", "k1", "k2", "k3"]


def test_manifest_bad_gzip(local: LocalObjectStore) -> None:
    corrupt = b"\x1f\x8b" + b"not gzip"  # gzip's magic bytes, then garbage
    put_manifest(local, {"ok.csv.gz": gz_csv([["data", "k", "1", "t"]]), "bad.csv.gz": corrupt})
    cause = failure(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert cause.startswith("s3://inventory/bad.csv.gz is not a valid gzip file")


def test_manifest_truncated_gzip(local: LocalObjectStore) -> None:
    body = gz_csv([["data", f"k{i}", "1", "t"] for i in range(1000)])
    put_manifest(local, {"cut.csv.gz": body[: len(body) // 2]})
    cause = failure(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert cause.startswith("s3://inventory/cut.csv.gz is not a valid gzip file")


def test_manifest_row_with_wrong_field_count(local: LocalObjectStore) -> None:
    put_manifest(local, {"x.csv.gz": gz_csv([["data", "k", "1", "t"], ["data", "k2", "1"]])})
    cause = failure(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert cause == (
        "s3://inventory/x.csv.gz line 2 has 3 field(s); the manifest's fileSchema has 4"
    )


def test_manifest_listing_a_missing_file(local: LocalObjectStore) -> None:
    put_manifest(local, {"there.csv.gz": gz_csv([["data", "k", "1", "t"]])})
    manifest = json.loads(local.get("inventory", "inv/manifest.json"))
    manifest["files"].append({"key": "gone.csv.gz"})
    local.put("inventory", "inv/manifest.json", json.dumps(manifest).encode())
    cause = failure(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert cause.startswith("Failed to read s3://inventory/gone.csv.gz: NoSuchKey")


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"fileFormat": "ORC"}, "fileFormat 'ORC' is not supported"),
        ({"fileSchema": None}, "no fileSchema"),
        ({"fileSchema": "Bucket, Bucket"}, "duplicate"),
        ({"files": "x"}, "no 'files' array"),
        ({"files": [{"size": 1}]}, "files[0] has no 'key'"),
        ({"destinationBucket": "inventory"}, "not an S3 bucket ARN"),
    ],
)
def test_invalid_manifests(local: LocalObjectStore, overrides: dict[str, Any], detail: str) -> None:
    put_manifest(local, {"f.csv.gz": gz_csv([["data", "k", "1", "t"]])}, overrides)
    cause = failure(local, reader("MANIFEST", "inv/manifest.json", bucket="inventory"))
    assert cause.startswith("s3://inventory/inv/manifest.json")
    assert detail in cause


def test_manifest_that_is_not_json(local: LocalObjectStore) -> None:
    local.put("data", "m.json", b"not json")
    cause = failure(local, reader("MANIFEST", "m.json"))
    assert cause.startswith("s3://data/m.json is not a valid S3 Inventory manifest")


# ------------------------------------------------------------------------------ PARQUET


def parquet_bytes(**columns: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, row_group_size=3)
    return sink.getvalue()


def test_parquet(local: LocalObjectStore) -> None:
    import datetime as dt
    import decimal

    import pyarrow as pa

    body = parquet_bytes(
        id=pa.array([1, 2, 3, 4, 5], pa.int64()),
        name=["a", "b", None, "d", "é"],
        score=[1.5, 2.0, 3.25, None, float("nan")],
        ok=[True, False, True, True, False],
        day=[dt.date(2024, 1, i) for i in range(1, 6)],
        at=pa.array([dt.datetime(2024, 1, 1, 12, 0, i) for i in range(5)], pa.timestamp("s")),
        amount=pa.array([decimal.Decimal("1.10")] * 5, pa.decimal128(5, 2)),
        tags=[["x"], [], ["y", "z"], None, ["w"]],
    )
    local.put("data", "t.parquet", body)
    items = read(local, reader("PARQUET", "t.parquet"))
    assert len(items) == 5
    assert items[0] == {
        "id": 1,
        "name": "a",
        "score": 1.5,
        "ok": True,
        "day": "2024-01-01",
        "at": "2024-01-01T12:00:00",
        "amount": "1.10",
        "tags": ["x"],
    }
    assert items[2]["name"] is None
    assert items[4]["name"] == "é"
    assert items[4]["score"] is None  # NaN is not JSON
    json.dumps(items)  # every value is JSON data
    assert len(read(local, reader("PARQUET", "t.parquet"), max_items=4)) == 4


def test_parquet_from_a_stream_that_cannot_seek(s3_store: ObjectStore) -> None:
    s3_store.create_bucket("data")
    s3_store.put("data", "t.parquet", parquet_bytes(n=list(range(2500))))
    items = read(s3_store, reader("PARQUET", "t.parquet"))
    assert [i["n"] for i in items] == list(range(2500))


def test_corrupt_parquet(local: LocalObjectStore) -> None:
    local.put("data", "bad.parquet", b"PAR1 this is not parquet")
    cause = failure(local, reader("PARQUET", "bad.parquet"))
    assert cause.startswith("s3://data/bad.parquet is not a readable Parquet file")


# ------------------------------------------------------------------------------ listObjectsV2


def list_reader(prefix: str | None = None, **config: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"Bucket": "data"}
    if prefix is not None:
        params["Prefix"] = prefix
    spec: dict[str, Any] = {"Resource": LIST, "Parameters": params}
    if config:
        spec["ReaderConfig"] = config
    return spec


def test_list_objects(local: LocalObjectStore) -> None:
    for key in ["img/b.jpg", "img/a.jpg", "other/c", "img2"]:
        local.put("data", key, b"12345")
    items = read(local, list_reader("img/"))
    assert [i["Key"] for i in items] == ["img/a.jpg", "img/b.jpg"]
    first = items[0]
    assert set(first) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert first["Size"] == 5
    assert first["StorageClass"] == "STANDARD"
    assert isinstance(first["LastModified"], int)
    assert first["Etag"] == f'"{local.head("data", "img/a.jpg").etag}"'
    assert [i["Key"] for i in read(local, list_reader())] == [
        "img/a.jpg",
        "img/b.jpg",
        "img2",
        "other/c",
    ]


def test_list_objects_pages_and_max_items(local: LocalObjectStore) -> None:
    for i in range(1005):
        local.put("data", f"k/{i:05d}", b"")
    assert len(read(local, list_reader("k/"))) == 1005
    assert [i["Key"] for i in read(local, list_reader("k/", MaxItems=3))] == [
        "k/00000",
        "k/00001",
        "k/00002",
    ]


def test_list_objects_over_s3(s3_store: ObjectStore) -> None:
    s3_store.create_bucket("data")
    s3_store.put("data", "p/x", b"1")
    items = read(s3_store, list_reader("p/"))
    assert items[0]["Key"] == "p/x"
    assert items[0]["Etag"].startswith('"')


def test_list_objects_missing_bucket(local: LocalObjectStore) -> None:
    spec = list_reader()
    spec["Parameters"]["Bucket"] = "nope"
    assert failure(local, spec).startswith("Failed to list s3://nope/: NoSuchBucket")


# ------------------------------------------------------------------------------ sources and config


def test_missing_object_and_bucket(local: LocalObjectStore) -> None:
    cause = failure(local, reader("JSON", "missing.json"))
    assert cause.startswith("Failed to read s3://data/missing.json: NoSuchKey")
    cause = failure(local, reader("CSV", "x.csv", bucket="no-bucket"))
    assert cause.startswith("Failed to read s3://no-bucket/x.csv: NoSuchBucket")


def test_arguments_are_accepted_like_parameters(local: LocalObjectStore) -> None:
    local.put("data", "a.json", b"[1]")
    spec = reader("JSON", "a.json")
    spec["Arguments"] = spec.pop("Parameters")
    assert read(local, spec) == [1]


def test_max_items_argument_overrides_reader_config(local: LocalObjectStore) -> None:
    local.put("data", "a.json", b"[1, 2, 3, 4]")
    assert read(local, reader("JSON", "a.json", MaxItems=3)) == [1, 2, 3]
    assert read(local, reader("JSON", "a.json", MaxItems=3), max_items=1) == [1]
    assert read(local, reader("JSON", "a.json", MaxItems=0)) == [1, 2, 3, 4]
    assert read(local, reader("JSON", "a.json", MaxItemsPath="$.n"), max_items=2) == [1, 2]


@pytest.mark.parametrize(
    ("spec", "detail"),
    [
        ({**reader("JSON", "a"), "Resource": "arn:aws:states:::s3:putObject"}, "Resource"),
        ({"Resource": GET, "Parameters": "x"}, "Parameters must be an object"),
        ({**reader("JSON", "a"), "ReaderConfig": []}, "ReaderConfig must be an object"),
        (reader("XML", "a"), "InputType must be one of"),
        ({"Resource": GET, "Parameters": {"Bucket": "data", "Key": "a"}}, "InputType"),
        (reader("JSON", ""), "Key must be a non-empty string"),
        (reader("JSON", "a", bucket=""), "Bucket must be a non-empty string"),
        (reader("JSON", "a", Unknown=1), "unsupported field(s): Unknown"),
        (reader("CSV", "a", CSVHeaderLocation="LAST_ROW"), "CSVHeaderLocation"),
        (reader("CSV", "a", CSVHeaderLocation="GIVEN"), "CSVHeaders must be"),
        (reader("CSV", "a", CSVHeaderLocation="GIVEN", CSVHeaders=[1]), "CSVHeaders must be"),
        (reader("CSV", "a", CSVDelimiter=","), "CSVDelimiter must be one of"),
        (reader("MANIFEST", "a", ManifestType="ATHENA_DATA"), "ATHENA_DATA"),
        (reader("JSON", "a", MaxItems=-1), "field MaxItems"),
        (reader("JSON", "a", MaxItems=True), "field MaxItems"),
        (reader("JSON", "a", MaxItems=100_000_001), "field MaxItems"),
        (list_reader(InputType="JSON"), "not used with s3:listObjectsV2"),
        ({"Resource": LIST, "Parameters": {"Bucket": "data", "Prefix": 3}}, "Prefix must be"),
        ({"Resource": LIST, "Parameters": {"Bucket": "data", "Key": "k"}}, "unsupported field"),
        (
            {**reader("JSON", "a"), "Parameters": {"Bucket": "data", "Key": "a", "VersionId": "v"}},
            "VersionId",
        ),
    ],
)
def test_invalid_configuration_fails_before_reading(
    local: LocalObjectStore, spec: dict[str, Any], detail: str
) -> None:
    with pytest.raises(StatesError) as err:
        read_items(local, spec)  # raised on the call, not on the first item
    assert err.value.error == "States.ItemReaderFailed"
    assert detail in (err.value.cause or "")


def test_items_are_produced_lazily(local: LocalObjectStore) -> None:
    local.put("data", "a.jsonl", b"1\n2\n")
    items: Iterator[Any] = read_items(local, reader("JSONL", "a.jsonl"))
    local.delete("data", "a.jsonl")
    assert "NoSuchKey" in failure(local, reader("JSONL", "a.jsonl"))
    with pytest.raises(StatesError):
        next(items)


def test_version_id_null_reads_the_object(local: LocalObjectStore) -> None:
    # AWS's ItemReader example passes a VersionId; objects here have only S3's "null" version.
    local.put("data", "a.json", b"[1, 2]")
    spec = reader("JSON", "a.json")
    spec["Parameters"]["VersionId"] = "null"
    assert read(local, spec) == [1, 2]
    spec["Parameters"]["VersionId"] = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    cause = failure(local, spec)
    assert cause.startswith("Failed to read s3://data/a.json: InvalidArgument")
    assert "VersionId" in cause


# ------------------------------------------------------------------ LOAD_AND_FLATTEN


def test_load_and_flatten_reads_every_listed_object(local: LocalObjectStore) -> None:
    # AWS: listObjectsV2 with ReaderConfig Transformation LOAD_AND_FLATTEN and an
    # InputType iterates over the contents of the objects under the prefix.
    local.put("data", "logs/a.jsonl", b'{"n": 1}\n{"n": 2}\n')
    local.put("data", "logs/b.jsonl", b'{"n": 3}\n')
    local.put("data", "logs/sub/", b"")  # a console "folder": no data
    local.put("data", "other.jsonl", b'{"n": 9}\n')
    spec = list_reader("logs/", InputType="JSONL", Transformation="LOAD_AND_FLATTEN")
    assert read(local, spec) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert read(local, {**spec, "ReaderConfig": {**spec["ReaderConfig"], "MaxItems": 2}}) == [
        {"n": 1},
        {"n": 2},
    ]


def test_load_and_flatten_csv_has_a_header_per_object(local: LocalObjectStore) -> None:
    local.put("data", "csv/1.csv", b"a,b\n1,2\n")
    local.put("data", "csv/2.csv", b"b,a\n3,4\n")
    spec = list_reader("csv/", InputType="CSV", Transformation="LOAD_AND_FLATTEN")
    assert read(local, spec) == [{"a": "1", "b": "2"}, {"b": "3", "a": "4"}]


def test_load_and_flatten_failures(local: LocalObjectStore) -> None:
    local.put("data", "j/1.json", b"[1]")
    local.put("data", "j/2.json", b"{not json")
    spec = list_reader("j/", InputType="JSON", Transformation="LOAD_AND_FLATTEN")
    assert "s3://data/j/2.json" in failure(local, spec)
    cause = failure(local, list_reader("j/", Transformation="LOAD_AND_FLATTEN"))
    assert "InputType" in cause
    cause = failure(local, list_reader("j/", InputType="JSON", Transformation="FLATTEN"))
    assert "Transformation" in cause
    # Without LOAD_AND_FLATTEN a listing's items are the objects themselves.
    assert [i["Key"] for i in read(local, list_reader("j/", Transformation="NONE"))] == [
        "j/1.json",
        "j/2.json",
    ]
