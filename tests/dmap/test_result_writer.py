"""ResultWriter: AWS's layout, manifest, file splitting, WriterConfig and failures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from montemap.engine.records import ExecutionRecord
from montemap.engine.result_writer import ResultWriter, WriterConfig, execution_result
from montemap.errors import StatesError
from montemap.storage import LocalObjectStore, ObjectMeta, ObjectStore, ObjectStoreError

RUN_ID = "ad9b5f27-090b-3ac6-9beb-243cd77144a7"
MAP_RUN = f"arn:aws:states:us-east-1:123456789012:mapRun:csvProcess/Map:{RUN_ID}"


def record(i: int, status: str = "SUCCEEDED", output: Any = None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:execution:csvProcess/Map:{i}",
        "Input": json.dumps({"i": i}),
        "InputDetails": {"Included": True},
        "Name": str(i),
        "Status": status,
    }
    if status == "SUCCEEDED":
        rec["Output"] = json.dumps(output if output is not None else {"i": i, "ok": True})
        rec["OutputDetails"] = {"Included": True}
    else:
        rec["Error"] = "States.TaskFailed"
        rec["Cause"] = f"item {i} failed"
    return rec


def writer(store: ObjectStore, **kwargs: Any) -> ResultWriter:
    kwargs.setdefault("bucket", "out")
    kwargs.setdefault("prefix", "csvProcessJobs")
    kwargs.setdefault("map_run_arn", MAP_RUN)
    return ResultWriter(store, **kwargs)


@pytest.fixture
def out(local: LocalObjectStore) -> LocalObjectStore:
    local.create_bucket("out")
    return local


def read_json(store: ObjectStore, key: str) -> Any:
    return json.loads(store.get("out", key))


def test_layout_and_manifest(out: LocalObjectStore) -> None:
    w = writer(out)
    w.add("SUCCEEDED", record(0))
    w.add("FAILED", record(1, "FAILED"))
    w.add("SUCCEEDED", record(2))
    w.add("TIMED_OUT", record(3, "TIMED_OUT"))
    w.add("ABORTED", record(4, "ABORTED"))
    w.add("PENDING", record(5, "PENDING"))
    result = w.close()
    base = f"csvProcessJobs/{RUN_ID}/"
    assert result == {
        "MapRunArn": MAP_RUN,
        "ResultWriterDetails": {"Bucket": "out", "Key": base + "manifest.json"},
    }
    manifest = read_json(out, base + "manifest.json")
    assert manifest == {
        "DestinationBucket": "out",
        "MapRunArn": MAP_RUN,
        "ResultFiles": {
            "FAILED": [
                {
                    "Key": base + "FAILED_0.json",
                    "Size": out.head("out", base + "FAILED_0.json").size,
                }
            ],
            "PENDING": [
                {
                    "Key": base + "PENDING_0.json",
                    "Size": out.head("out", base + "PENDING_0.json").size,
                }
            ],
            "SUCCEEDED": [
                {
                    "Key": base + "SUCCEEDED_0.json",
                    "Size": out.head("out", base + "SUCCEEDED_0.json").size,
                }
            ],
        },
    }
    assert read_json(out, base + "SUCCEEDED_0.json") == [record(0), record(2)]
    assert read_json(out, base + "FAILED_0.json") == [
        record(1, "FAILED"),
        record(3, "TIMED_OUT"),
        record(4, "ABORTED"),
    ]
    assert read_json(out, base + "PENDING_0.json") == [record(5, "PENDING")]


def test_empty_groups_write_no_files(out: LocalObjectStore) -> None:
    w = writer(out, prefix="")
    w.add("SUCCEEDED", record(0))
    w.close()
    manifest = read_json(out, f"{RUN_ID}/manifest.json")
    assert manifest["ResultFiles"]["FAILED"] == []
    assert manifest["ResultFiles"]["PENDING"] == []
    keys = [o.key for o in out.list_page("out").objects]
    assert keys == [f"{RUN_ID}/SUCCEEDED_0.json", f"{RUN_ID}/manifest.json"]


def test_no_results_at_all(out: LocalObjectStore) -> None:
    writer(out, prefix="p/").close()
    manifest = read_json(out, f"p/{RUN_ID}/manifest.json")
    assert manifest["ResultFiles"] == {"FAILED": [], "PENDING": [], "SUCCEEDED": []}


@pytest.mark.parametrize("output_type", ["JSON", "JSONL"])
def test_files_split_at_the_size_limit(out: LocalObjectStore, output_type: str) -> None:
    limit = 700
    w = writer(out, writer_config={"OutputType": output_type}, max_file_bytes=limit)
    records = [record(i) for i in range(40)]
    for rec in records:
        w.add("SUCCEEDED", rec)
    w.close()
    files = read_json(out, f"csvProcessJobs/{RUN_ID}/manifest.json")["ResultFiles"]["SUCCEEDED"]
    suffix = "jsonl" if output_type == "JSONL" else "json"
    assert [f["Key"] for f in files] == [
        f"csvProcessJobs/{RUN_ID}/SUCCEEDED_{n}.{suffix}" for n in range(len(files))
    ]
    assert len(files) > 3
    seen: list[Any] = []
    for f in files:
        body = out.get("out", f["Key"])
        assert len(body) == f["Size"] <= limit
        if output_type == "JSON":
            seen.extend(json.loads(body))
        else:
            assert body.endswith(b"\n")
            seen.extend(json.loads(line) for line in body.splitlines())
    assert seen == records


def test_an_entry_larger_than_the_limit_gets_a_file_of_its_own(out: LocalObjectStore) -> None:
    w = writer(out, max_file_bytes=100)
    w.add("SUCCEEDED", record(0, output="x" * 500))
    w.add("SUCCEEDED", record(1))
    w.close()
    files = read_json(out, f"csvProcessJobs/{RUN_ID}/manifest.json")["ResultFiles"]["SUCCEEDED"]
    assert [len(read_json(out, f["Key"])) for f in files] == [1, 1]


def test_compact_writes_outputs_and_failures_whole(out: LocalObjectStore) -> None:
    w = writer(out, writer_config={"Transformation": "COMPACT"})
    w.add("SUCCEEDED", record(0, output=[1, 2]))
    w.add("SUCCEEDED", record(1, output={"a": 1}))
    w.add("SUCCEEDED", {"Status": "SUCCEEDED", "Output": "not json"})
    w.add("FAILED", record(2, "FAILED"))
    w.close()
    base = f"csvProcessJobs/{RUN_ID}/"
    assert read_json(out, base + "SUCCEEDED_0.json") == [[1, 2], {"a": 1}, "not json"]
    assert read_json(out, base + "FAILED_0.json") == [record(2, "FAILED")]


def test_flatten_spreads_array_outputs(out: LocalObjectStore) -> None:
    w = writer(out, writer_config={"Transformation": "FLATTEN", "OutputType": "JSONL"})
    w.add("SUCCEEDED", record(0, output=[1, 2]))
    w.add("SUCCEEDED", record(1, output={"a": 1}))
    w.add("SUCCEEDED", record(2, output=[[3], 4]))
    w.close()
    body = out.get("out", f"csvProcessJobs/{RUN_ID}/SUCCEEDED_0.jsonl")
    assert [json.loads(line) for line in body.splitlines()] == [1, 2, {"a": 1}, [3], 4]


def test_execution_records() -> None:
    start = dt.datetime(2025, 2, 27, 17, 7, 33, 524_123, tzinfo=dt.UTC)
    ok = ExecutionRecord(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm/Map:a",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:sm/Map",
        name="a",
        status="SUCCEEDED",
        start_date=start,
        stop_date=start + dt.timedelta(milliseconds=73),
        input='{"x":1}',
        output='{"y":2}',
    )
    assert execution_result(ok) == {
        "ExecutionArn": ok.execution_arn,
        "Input": '{"x":1}',
        "InputDetails": {"Included": True},
        "Name": "a",
        "Output": '{"y":2}',
        "OutputDetails": {"Included": True},
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
        "StartDate": "2025-02-27T17:07:33.524Z",
        "StateMachineArn": ok.state_machine_arn,
        "Status": "SUCCEEDED",
        "StopDate": "2025-02-27T17:07:33.597Z",
    }
    failed = ExecutionRecord(
        execution_arn="e",
        state_machine_arn="s",
        name="b",
        status="FAILED",
        start_date=start,
        stop_date=start,
        input="{}",
        error="Oops",
        cause="it broke",
        redrive_status="REDRIVABLE_BY_MAP_RUN",
    )
    rec = execution_result(failed)
    assert rec["Error"] == "Oops"
    assert rec["Cause"] == "it broke"
    assert rec["RedriveStatus"] == "REDRIVABLE_BY_MAP_RUN"
    assert "Output" not in rec


def test_add_execution(out: LocalObjectStore) -> None:
    w = writer(out)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    w.add_execution(
        ExecutionRecord("e1", "s", "n1", "FAILED", now, now, input="{}", error="E", cause="C")
    )
    w.close()
    assert read_json(out, f"csvProcessJobs/{RUN_ID}/FAILED_0.json")[0]["Error"] == "E"


def test_writes_to_s3(s3_store: ObjectStore) -> None:
    s3_store.create_bucket("out")
    w = writer(s3_store)
    w.add("SUCCEEDED", record(0))
    w.close()
    body = s3_store.get("out", f"csvProcessJobs/{RUN_ID}/SUCCEEDED_0.json")
    assert json.loads(body) == [record(0)]


def test_close_is_idempotent_and_final(out: LocalObjectStore) -> None:
    w = writer(out)
    w.add("SUCCEEDED", record(0))
    first = w.close()
    assert w.close() == first
    with pytest.raises(RuntimeError):
        w.add("SUCCEEDED", record(1))


def test_context_manager_aborts_on_error(out: LocalObjectStore) -> None:
    with pytest.raises(KeyError), writer(out) as w:
        w.add("SUCCEEDED", record(0))
        raise KeyError("boom")
    assert out.list_page("out").objects == []
    with writer(out) as w:
        w.add("SUCCEEDED", record(0))
    assert len(out.list_page("out").objects) == 2


def test_unknown_status(out: LocalObjectStore) -> None:
    with pytest.raises(ValueError, match="RUNNING"):
        writer(out).add("RUNNING", record(0))


def test_spool_directory(out: LocalObjectStore, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    w = writer(out, spool_dir=spool)
    w.add("SUCCEEDED", record(0))
    w.close()
    assert list(spool.iterdir()) == []  # anonymous files, gone once uploaded


# ------------------------------------------------------------------------------ failures


def failure(call: Any) -> str:
    with pytest.raises(StatesError) as err:
        call()
    assert err.value.error == "States.ResultWriterFailed"
    return err.value.cause or ""


def test_missing_bucket_fails_before_any_result(local: LocalObjectStore) -> None:
    cause = failure(lambda: writer(local, bucket="nowhere"))
    assert cause.startswith(
        f"Cannot write results to s3://nowhere/csvProcessJobs/{RUN_ID}/: NoSuchBucket"
    )


class FailingStore(LocalObjectStore):
    """Refuses to write keys containing ``refuse``."""

    refuse = "SUCCEEDED"

    def put_stream_no_etag(self, bucket: str, key: str, stream: BinaryIO) -> None:
        if self.refuse in key:
            raise ObjectStoreError("AccessDenied", "Access Denied", bucket=bucket, key=key)
        super().put_stream_no_etag(bucket, key, stream)

    def put(self, bucket: str, key: str, data: bytes, *, meta: ObjectMeta | None = None) -> str:
        if self.refuse in key:
            raise ObjectStoreError(
                "SlowDown", "Please reduce your request rate", bucket=bucket, key=key
            )
        return super().put(bucket, key, data, meta=meta)


def test_failing_upload(out: LocalObjectStore) -> None:
    store = FailingStore(out.root)
    w = writer(store)
    w.add("SUCCEEDED", record(0))
    cause = failure(w.close)
    assert cause.startswith(
        f"Failed to write s3://out/csvProcessJobs/{RUN_ID}/SUCCEEDED_0.json: AccessDenied"
    )


def test_failing_upload_on_rollover(out: LocalObjectStore) -> None:
    store = FailingStore(out.root)
    w = writer(store, max_file_bytes=300)
    w.add("SUCCEEDED", record(0))
    assert "SUCCEEDED_0.json" in failure(lambda: w.add("SUCCEEDED", record(1)))


def test_failing_manifest(out: LocalObjectStore) -> None:
    store = FailingStore(out.root)
    store.refuse = "manifest"
    w = writer(store)
    w.add("FAILED", record(0, "FAILED"))
    assert f"csvProcessJobs/{RUN_ID}/manifest.json: SlowDown" in failure(w.close)


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"bucket": "Bad_Bucket"}, "ResultWriter Bucket"),
        ({"bucket": None}, "ResultWriter Bucket"),
        ({"prefix": 5}, "Prefix must be a string"),
        ({"prefix": "../up"}, "does not make a valid key"),
        ({"map_run_arn": "not-an-arn"}, "map run ARN"),
        ({"writer_config": {"Transformation": "SQUASH"}}, "Transformation must be one of"),
        ({"writer_config": {"OutputType": "CSV"}}, "OutputType must be JSON or JSONL"),
        ({"writer_config": {"Compression": "GZIP"}}, "unsupported field(s): Compression"),
        ({"writer_config": []}, "WriterConfig must be an object"),
    ],
)
def test_invalid_configuration(out: LocalObjectStore, kwargs: dict[str, Any], detail: str) -> None:
    assert detail in failure(lambda: writer(out, **kwargs))


def test_from_state(out: LocalObjectStore) -> None:
    spec = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Arguments": {"Bucket": "out", "Prefix": "jobs"},
        "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"},
    }
    w = ResultWriter.from_state(out, spec, map_run_arn=MAP_RUN)
    assert repr(w.config) == "WriterConfig('COMPACT', 'JSONL')"
    assert w.close()["ResultWriterDetails"]["Key"] == f"jobs/{RUN_ID}/manifest.json"
    for bad, detail in [
        ({**spec, "Resource": "arn:aws:states:::s3:getObject"}, "Resource must be"),
        ({"Resource": spec["Resource"]}, "Parameters must be an object"),
        ({**spec, "Arguments": {"Bucket": "out", "Key": "k"}}, "unsupported field(s): Key"),
    ]:
        assert detail in failure(
            lambda bad=bad: ResultWriter.from_state(out, bad, map_run_arn=MAP_RUN)
        )


def test_writer_config_defaults() -> None:
    config = WriterConfig.parse(None)
    assert (config.transformation, config.output_type) == ("NONE", "JSON")
    config = WriterConfig.parse({"OutputType": "JSONL"})
    assert (config.transformation, config.output_type) == ("NONE", "JSONL")


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.UTC), "2026-11-27T10:00:00.000Z"),
        (dt.datetime(2026, 11, 27, 10, 0, 0, 999999, tzinfo=dt.UTC), "2026-11-27T10:00:00.999Z"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, 6000), "2026-01-02T03:04:05.006Z"),  # naive: UTC
        (
            dt.datetime(2026, 1, 1, 1, 30, 0, 1999, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2025-12-31T23:30:00.001Z",
        ),
    ],
)
def test_record_dates_are_utc_with_milliseconds(when: dt.datetime, text: str) -> None:
    record = ExecutionRecord(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:m/r:x",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:m/r",
        name="x",
        status="SUCCEEDED",
        start_date=when,
        stop_date=when,
        input="{}",
        output="{}",
    )
    result = execution_result(record)
    assert result["StartDate"] == result["StopDate"] == text
