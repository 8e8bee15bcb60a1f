"""An ItemReader that fails after children have started fails the Map Run as AWS does.

AWS: a Map Run that fails stops its running children (``executionCounts.aborted``
counts the children "stopped by Step Functions because the Map Run failed"), the Map
Run's status is FAILED, the parent records ``MapRunFailed`` with the error, and the
state fails with the reader's ``States.ItemReaderFailed``; a ResultWriter still
exports the results (the aborted children in ``FAILED_n.json``) and its manifest.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.engine import Engine
from montemap.storage import LocalObjectStore
from montemap.testing import wait_for_execution
from tests.dmap.engine_env import (
    activity_step,
    dmap,
    engine_at,
    event_types,
    machine,
    map_run_arn,
    open_tasks,
    take,
)
from tests.dmap.test_inventory_fast_path import put_inventory
from tests.dmap.test_item_reader import reader

WRITER = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "out"}}


def reader_map(spec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Distributed Map over ``spec``'s items whose children wait on an activity."""
    definition = dmap(activity_step(), ItemReader=spec, **fields)
    del definition["States"]["M"]["ItemsPath"]
    return definition


def jsonl(good: int) -> bytes:
    """``good`` JSON Lines items, then a line that is not JSON."""
    return b"".join(b'{"n":%d}\n' % n for n in range(good)) + b"{not json\n"


def csv_text(good: int) -> bytes:
    """A CSV file whose row after ``good`` rows has one field too many."""
    rows = "".join(f"{n},x{n}\n" for n in range(good))
    return f"n,name\n{rows}{good},x,extra\n{good + 1},y\n".encode()


def gzip_part(rows: range) -> bytes:
    return gzip.compress("".join(f'"data","k{n}","1"\n' for n in rows).encode())


def children(engine: Engine, run_arn: str) -> list[tuple[str, Any]]:
    """(status, input) of each child, in start order."""
    rows = engine.db.query(
        "SELECT status, input FROM executions WHERE map_run_arn = ? ORDER BY name", (run_arn,)
    )
    return [(r["status"], json.loads(r["input"])) for r in rows]


def read_json(store: LocalObjectStore, key: str) -> Any:
    with store.open("out", key) as body:
        return json.loads(body.read())


def check_failed_map_run(engine: Engine, parent: str, aborted: int, items: int) -> str:
    """The Map Run is FAILED with ``aborted`` children (``items`` items) aborted and none
    running; the parent's last events are the Map Run's and the state's failures."""
    run_arn = map_run_arn(engine, parent)
    described = engine.describe_map_run(run_arn)
    assert described["status"] == "FAILED"
    counts, item_counts = described["executionCounts"], described["itemCounts"]
    assert (counts["aborted"], counts["running"], counts["total"]) == (aborted, 0, aborted)
    assert (item_counts["aborted"], item_counts["running"]) == (items, 0)
    assert "stopDate" in described
    types = event_types(engine, parent)
    assert types[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    events, _ = engine.get_execution_history(
        parent, reverse=False, max_results=1000, next_token=None, include_data=True
    )
    failed = next(e for e in events if e["type"] == "MapRunFailed")
    assert failed["mapRunFailedEventDetails"]["error"] == "States.ItemReaderFailed"
    assert open_tasks(engine) == []
    return run_arn


@pytest.mark.parametrize("execution_type", ["STANDARD", "EXPRESS"])
def test_a_bad_line_aborts_the_children_started_before_it(
    tmp_path: Path, execution_type: str
) -> None:
    """Four children run when line 5 of the JSON Lines file is read: they are aborted, the
    state fails with the reader's error and the ResultWriter exports them as FAILED."""

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            store = engine.object_store
            assert isinstance(store, LocalObjectStore)
            store.create_bucket("data")
            store.create_bucket("out")
            store.put("data", "items.jsonl", jsonl(4))
            definition = reader_map(reader("JSONL", "items.jsonl"), ResultWriter=WRITER)
            processor = definition["States"]["M"]["ItemProcessor"]
            processor["ProcessorConfig"]["ExecutionType"] = execution_type
            rec = await engine.start_execution(machine(definition), name="p", input="{}")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 30)
            assert done.status == "FAILED"
            assert done.error == "States.ItemReaderFailed"
            assert "items.jsonl line 5" in (done.cause or "")
            run_arn = check_failed_map_run(engine, rec.execution_arn, aborted=4, items=4)
            assert children(engine, run_arn) == [("ABORTED", {"n": n}) for n in range(4)]
            run_id = run_arn.rsplit(":", 1)[1]
            manifest = read_json(store, f"{run_id}/manifest.json")
            assert manifest["MapRunArn"] == run_arn
            assert manifest["ResultFiles"]["PENDING"] == []
            assert [f["Key"] for f in manifest["ResultFiles"]["FAILED"]] == [
                f"{run_id}/FAILED_0.json"
            ]
            failed = read_json(store, f"{run_id}/FAILED_0.json")
            assert sorted((r["Status"], r["Input"]) for r in failed) == [
                ("ABORTED", json.dumps({"n": n}, separators=(",", ":"))) for n in range(4)
            ]

    asyncio.run(scenario())


@pytest.mark.parametrize("selector", [None, {"row.$": "$$.Map.Item.Value.n"}])
def test_a_bad_csv_row_after_the_first_batches(
    tmp_path: Path, selector: dict[str, Any] | None
) -> None:
    """Three batches of two rows have started when row 7 has a field too many."""

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            store = engine.object_store
            assert store is not None
            store.create_bucket("data")
            store.put("data", "rows.csv", csv_text(6))
            fields: dict[str, Any] = {"ItemBatcher": {"MaxItemsPerBatch": 2}}
            if selector is not None:
                fields["ItemSelector"] = selector
            spec = reader("CSV", "rows.csv", CSVHeaderLocation="FIRST_ROW")
            rec = await engine.start_execution(
                machine(reader_map(spec, **fields)), name="c", input="{}"
            )
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 30)
            assert (done.status, done.error) == ("FAILED", "States.ItemReaderFailed")
            assert "rows.csv line 8 has 3 field(s)" in (done.cause or "")
            run_arn = check_failed_map_run(engine, rec.execution_arn, aborted=3, items=6)
            rows: list[Any] = [{"n": str(n), "name": f"x{n}"} for n in range(6)]
            if selector is not None:
                rows = [{"row": row["n"]} for row in rows]
            batches = [{"Items": rows[i : i + 2]} for i in range(0, 6, 2)]
            assert children(engine, run_arn) == [("ABORTED", b) for b in batches]

    asyncio.run(scenario())


def test_a_corrupt_gzip_inventory_part(tmp_path: Path) -> None:
    """The second inventory file is not gzip data past its first bytes: the children
    of the first file's rows are aborted."""

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            store = engine.object_store
            assert isinstance(store, LocalObjectStore)
            good = gzip_part(range(5))
            bad = gzip_part(range(5, 400))
            bad = bad[:20] + bytes(b ^ 0x5A for b in bad[20:])
            spec = put_inventory(store, [good, bad])
            definition = reader_map(spec, ItemBatcher={"MaxItemsPerBatch": 1})
            rec = await engine.start_execution(machine(definition), name="g", input="{}")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 30)
            assert (done.status, done.error) == ("FAILED", "States.ItemReaderFailed")
            assert "inv/part-1.csv.gz" in (done.cause or "")
            run_arn = check_failed_map_run(engine, rec.execution_arn, aborted=5, items=5)
            keys = [child["Items"][0]["Key"] for _status, child in children(engine, run_arn)]
            assert keys == [f"k{n}" for n in range(5)]

    asyncio.run(scenario())


def test_an_object_deleted_while_the_map_runs(tmp_path: Path) -> None:
    """With MaxConcurrency 1, the first child succeeds while the next inventory file is
    deleted; the second child, started before the reader reaches that file, is aborted."""

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            store = engine.object_store
            assert isinstance(store, LocalObjectStore)
            spec = put_inventory(store, [gzip_part(range(2)), gzip_part(range(2, 4))])
            definition = reader_map(spec, MaxConcurrency=1)
            rec = await engine.start_execution(machine(definition), name="d", input="{}")
            token, first = await take(engine)
            assert first["Key"] == "k0"
            store.delete("inventory", "inv/part-1.csv.gz")
            await engine.send_task_success(token, "{}")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 30)
            assert (done.status, done.error) == ("FAILED", "States.ItemReaderFailed")
            assert "inv/part-1.csv.gz" in (done.cause or "")
            run_arn = map_run_arn(engine, rec.execution_arn)
            assert [s for s, _ in children(engine, run_arn)] == ["SUCCEEDED", "ABORTED"]
            counts = engine.describe_map_run(run_arn)["executionCounts"]
            assert (counts["succeeded"], counts["aborted"], counts["running"]) == (1, 1, 0)

    asyncio.run(scenario())


def test_a_threshold_failure_keeps_its_error_when_the_rest_cannot_be_read(
    tmp_path: Path,
) -> None:
    """The first child fails (no failure tolerated) before the reader reaches a bad line:
    the Map Run fails with the threshold error, and PENDING lists the items read before
    the bad line."""

    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            store = engine.object_store
            assert isinstance(store, LocalObjectStore)
            store.create_bucket("data")
            store.create_bucket("out")
            store.put("data", "items.jsonl", jsonl(3))
            definition = reader_map(
                reader("JSONL", "items.jsonl"), MaxConcurrency=1, ResultWriter=WRITER
            )
            rec = await engine.start_execution(machine(definition), name="t", input="{}")
            token, _ = await take(engine)
            await engine.send_task_failure(token, "Boom", "no")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 30)
            assert (done.status, done.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
            run_id = map_run_arn(engine, rec.execution_arn).rsplit(":", 1)[1]
            pending = read_json(store, f"{run_id}/PENDING_0.json")
            assert [json.loads(r["Input"]) for r in pending] == [{"n": 1}, {"n": 2}]

    asyncio.run(scenario())


def test_through_the_server(montemap_server: Any) -> None:
    """boto3 on a real server: the children running when the reader fails are ABORTED."""
    sfn, s3 = montemap_server.client(), montemap_server.client("s3")
    try:
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="items.jsonl", Body=jsonl(3))
        activity = sfn.create_activity(name="midway")["activityArn"]
        definition = reader_map(reader("JSONL", "items.jsonl"), Label="Fan")
        definition["States"]["M"]["ItemProcessor"]["States"]["Work"]["Resource"] = activity
        machine_arn = sfn.create_state_machine(
            name="midway",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/test",
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine_arn, input="{}")["executionArn"]
        described = wait_for_execution(sfn, arn)
        assert (described["status"], described["error"]) == ("FAILED", "States.ItemReaderFailed")
        run_arn = sfn.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
        map_run = sfn.describe_map_run(mapRunArn=run_arn)
        assert map_run["status"] == "FAILED"
        counts = map_run["executionCounts"]
        assert (counts["aborted"], counts["running"], counts["total"]) == (3, 0, 3)
        listed = sfn.list_executions(mapRunArn=run_arn)["executions"]
        assert sorted(c["status"] for c in listed) == ["ABORTED"] * 3
        history = sfn.get_execution_history(executionArn=arn)["events"]
        assert [e["type"] for e in history][-3:] == [
            "MapRunFailed",
            "MapStateFailed",
            "ExecutionFailed",
        ]
    finally:
        sfn.close()
        s3.close()
