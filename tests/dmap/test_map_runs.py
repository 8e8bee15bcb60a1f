"""Map Runs in the engine: children, counters, events, live updates, EXPRESS children."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from montemap.engine.errors import ExecutionDoesNotExist, MapRunDoesNotExist
from montemap.testing import eventually_async
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

DOUBLE = {
    "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.v, $.v)"}, "End": True}
}


def test_standard_children_counts_and_events(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(DOUBLE, MaxConcurrency=2, ItemSelector={"v.$": "$$.Map.Item.Value"})
            items = json.dumps({"items": list(range(7))})
            rec = await engine.start_execution(machine(definition), name="e", input=items)
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "SUCCEEDED", done.cause
            assert json.loads(done.output or "") == [{"v": 2 * i} for i in range(7)]
            assert event_types(engine, rec.execution_arn) == [
                "ExecutionStarted",
                "MapStateEntered",
                "MapStateStarted",
                "MapRunStarted",
                "MapRunSucceeded",
                "MapStateSucceeded",
                "MapStateExited",
                "ExecutionSucceeded",
            ]
            arn = map_run_arn(engine, rec.execution_arn)
            described = engine.describe_map_run(arn)
            assert described["status"] == "SUCCEEDED"
            assert described["maxConcurrency"] == 2
            assert described["itemCounts"]["succeeded"] == 7
            assert described["itemCounts"]["total"] == 7
            assert described["itemCounts"]["pending"] == 0
            assert described["itemCounts"]["running"] == 0
            assert described["itemCounts"]["resultsWritten"] == 7
            assert described["executionCounts"]["succeeded"] == 7
            children, token = engine.list_executions(
                state_machine_arn=None,
                map_run_arn=arn,
                status=None,
                max_results=100,
                next_token=None,
            )
            assert token is None and len(children) == 7
            assert {c.name for c in children} == {
                f"{arn.rsplit(':', 1)[1]}-{i:07d}" for i in range(7)
            }
            # each STANDARD child has its own history
            assert event_types(engine, children[0].execution_arn)[0] == "ExecutionStarted"

    asyncio.run(scenario())


def test_express_children_keep_only_their_result(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(
                DOUBLE, execution_type="EXPRESS", ItemSelector={"v.$": "$$.Map.Item.Value"}
            )
            items = json.dumps({"items": list(range(50))})
            rec = await engine.start_execution(machine(definition), name="e", input=items)
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "SUCCEEDED", done.cause
            assert json.loads(done.output or "") == [{"v": 2 * i} for i in range(50)]
            arn = map_run_arn(engine, rec.execution_arn)
            rows = engine.db.query(
                "SELECT arn, type, status FROM executions WHERE map_run_arn = ?", (arn,)
            )
            assert len(rows) == 50
            assert {r["type"] for r in rows} == {"EXPRESS"}
            assert all(":express:" in r["arn"] for r in rows)
            events = engine.db.query(
                "SELECT COUNT(*) AS n FROM events WHERE execution_arn LIKE '%:express:%'"
            )
            assert events[0]["n"] == 0
            assert engine.describe_map_run(arn)["executionCounts"]["succeeded"] == 50

    asyncio.run(scenario())


def test_update_map_run_raises_concurrency_live(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(activity_step(), MaxConcurrency=1)
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": list(range(6))})
            )
            await eventually_async(lambda: len(open_tasks(engine)) == 1, what="one open task")
            arn = map_run_arn(engine, rec.execution_arn)
            # the reader has produced every item, and MaxConcurrency 1 holds five back
            await eventually_async(
                lambda: engine.describe_map_run(arn)["itemCounts"]["pending"] == 5,
                what="five items pending",
            )
            assert len(open_tasks(engine)) == 1
            engine.update_map_run(
                arn,
                max_concurrency=4,
                tolerated_failure_count=None,
                tolerated_failure_percentage=None,
            )
            await eventually_async(lambda: len(open_tasks(engine)) == 4, what="4 open tasks")
            described = engine.describe_map_run(arn)
            assert described["maxConcurrency"] == 4
            assert described["itemCounts"]["running"] == 4
            # items the reader has produced that no child has taken yet
            assert described["itemCounts"]["pending"] == described["itemCounts"]["total"] - 4
            for _ in range(6):
                token, value = await take(engine)
                await engine.send_task_success(token, json.dumps(value))
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "SUCCEEDED"
            assert sorted(json.loads(done.output or "")) == list(range(6))

    asyncio.run(scenario())


def test_update_map_run_tolerance_applies_to_running_map(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(activity_step(), MaxConcurrency=1)
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": [1, 2, 3]})
            )
            await eventually_async(lambda: len(open_tasks(engine)) == 1, what="one open task")
            engine.update_map_run(
                map_run_arn(engine, rec.execution_arn),
                max_concurrency=None,
                tolerated_failure_count=1,
                tolerated_failure_percentage=None,
            )
            token, _ = await take(engine)
            await engine.send_task_failure(token, "Boom", "first fails")
            for _ in range(2):
                token, value = await take(engine)
                await engine.send_task_success(token, json.dumps(value))
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "SUCCEEDED"  # one failure is now tolerated
            first, *rest = json.loads(done.output or "")
            assert rest == [2, 3]  # the failed child is its record (AWS: as with NONE)
            assert (first["Status"], first["Error"], first["Cause"]) == (
                "FAILED",
                "Boom",
                "first fails",
            )

    asyncio.run(scenario())


def test_exceeded_tolerance_aborts_running_children(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(activity_step(), MaxConcurrency=3)
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": list(range(10))})
            )
            await eventually_async(lambda: len(open_tasks(engine)) == 3, what="3 open tasks")
            token, _ = await take(engine)
            await engine.send_task_failure(token, "Boom", "no")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "FAILED"
            assert done.error == "States.ExceedToleratedFailureThreshold"
            assert "MapRunFailed" in event_types(engine, rec.execution_arn)
            described = engine.describe_map_run(map_run_arn(engine, rec.execution_arn))
            assert described["status"] == "FAILED"
            counts = described["executionCounts"]
            assert (counts["failed"], counts["aborted"], counts["running"]) == (1, 2, 0)
            assert described["itemCounts"]["pending"] == 7
            assert open_tasks(engine) == []

    asyncio.run(scenario())


def test_map_run_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            missing = "arn:aws:states:us-east-1:123456789012:mapRun:sm/M:0000"
            with pytest.raises(MapRunDoesNotExist) as missing_run:
                engine.describe_map_run(missing)
            assert missing_run.value.arn == missing
            with pytest.raises(ExecutionDoesNotExist):
                engine.list_map_runs(
                    "arn:aws:states:us-east-1:123456789012:execution:sm:none",
                    max_results=0,
                    next_token=None,
                )

    asyncio.run(scenario())


def test_result_writer_exports_a_failed_map_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            engine.object_store.create_bucket("out")  # type: ignore[union-attr]
            definition = dmap(
                {"F": {"Type": "Fail", "Error": "Bad", "Cause": "odd"}},
                execution_type="EXPRESS",
                MaxConcurrency=1,
                ToleratedFailureCount=5,
                ResultWriter={
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "out", "Prefix": "res"},
                },
            )
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": list(range(8))})
            )
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "FAILED"
            assert done.error == "States.ExceedToleratedFailureThreshold"
            run_id = map_run_arn(engine, rec.execution_arn).rsplit(":", 1)[1]
            manifest = json.loads(
                (tmp_path / "buckets" / "out" / "res" / run_id / "manifest.json").read_text()
            )
            failed = manifest["ResultFiles"]["FAILED"]
            records = json.loads((tmp_path / "buckets" / "out" / failed[0]["Key"]).read_text())
            assert len(records) == 6  # the threshold (5) was passed at the sixth failure
            assert {r["Error"] for r in records} == {"Bad"}

    asyncio.run(scenario())


def test_unusable_result_bucket_fails_the_map_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(
                DOUBLE,
                ResultWriter={
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "missing", "Prefix": "res"},
                },
            )
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": [1]})
            )
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "FAILED"
            assert done.error == "States.ResultWriterFailed"
            described = engine.describe_map_run(map_run_arn(engine, rec.execution_arn))
            assert described["status"] == "FAILED"

    asyncio.run(scenario())


def test_a_child_that_cannot_start_fails_the_map_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            engine.object_store.create_bucket("inputs")  # type: ignore[union-attr]
            big = json.dumps([{"v": 1}, {"v": "x" * 300_000}])
            engine.object_store.put("inputs", "items.json", big.encode())  # type: ignore[union-attr]
            definition = dmap(
                DOUBLE,
                MaxConcurrency=1,
                ItemReader={
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": "inputs", "Key": "items.json"},
                },
            )
            del definition["States"]["M"]["ItemsPath"]
            rec = await engine.start_execution(machine(definition), name="e", input="{}")
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 10)
            assert done.status == "FAILED"
            assert done.error == "States.Runtime"
            assert "262144" in (done.cause or "")
            described = engine.describe_map_run(map_run_arn(engine, rec.execution_arn))
            assert described["status"] == "FAILED"
            assert described["executionCounts"]["running"] == 0

    asyncio.run(scenario())


def test_result_writer_lists_the_items_a_failed_map_run_never_started(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            engine.object_store.create_bucket("out")  # type: ignore[union-attr]
            definition = dmap(
                {"F": {"Type": "Fail", "Error": "Bad", "Cause": "odd"}},
                MaxConcurrency=1,
                ToleratedFailureCount=2,
                ItemSelector={"n.$": "$$.Map.Item.Value"},
                ResultWriter={
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "out", "Prefix": "res"},
                },
            )
            rec = await engine.start_execution(
                machine(definition), name="p", input=json.dumps({"items": list(range(10))})
            )
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 20)
            assert done.error == "States.ExceedToleratedFailureThreshold"
            run_id = map_run_arn(engine, rec.execution_arn).rsplit(":", 1)[1]
            bucket = tmp_path / "buckets" / "out"
            manifest = json.loads((bucket / "res" / run_id / "manifest.json").read_text())
            failed = json.loads((bucket / manifest["ResultFiles"]["FAILED"][0]["Key"]).read_text())
            pending = json.loads(
                (bucket / manifest["ResultFiles"]["PENDING"][0]["Key"]).read_text()
            )
            assert len(failed) == 3  # the threshold (2) was passed at the third failure
            assert [json.loads(r["Input"]) for r in pending] == [{"n": n} for n in range(3, 10)]
            assert {r["Status"] for r in pending} == {"PENDING"}

    asyncio.run(scenario())
