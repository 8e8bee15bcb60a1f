"""Task states: local Lambda functions, callbacks, activities, timeouts, S3."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.engine.clock import ManualClock
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.errors import InvalidToken, TaskDoesNotExist, TaskTimedOut
from montemap.engine.lambdas import FunctionConfigError, FunctionRegistry, load_functions_file
from montemap.storage import LocalObjectStore
from montemap.testing import eventually_async
from tests.engine.helpers import event_types, machine, settle


def _engine(tmp_path: Path, **kw: Any) -> Engine:
    return Engine(Database(tmp_path / "m.db"), arns=ArnFactory(), **kw)


def test_lambda_invoke_runs_registered_function_in_a_process(tmp_path: Path) -> None:
    functions = FunctionRegistry({"Double": "tests.engine.functions_for_tests:double"})
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:Double",
                    "Payload": {"value.$": "$.n"},
                },
                "ResultSelector": {"out.$": "$.Payload", "code.$": "$.StatusCode"},
                "End": True,
            }
        },
    }

    async def scenario() -> None:
        engine = _engine(tmp_path, functions=functions)
        rec = await engine.start_execution(machine(definition), name="l1", input='{"n": 21}')
        done = await engine.wait_for(rec.execution_arn, 30)
        assert done.status == "SUCCEEDED", done.cause
        assert json.loads(done.output or "") == {
            "out": {"value": 42, "function": "Double"},
            "code": 200,
        }
        assert event_types(engine, rec.execution_arn)[2:6] == [
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
        ]
        await engine.close()

    asyncio.run(scenario())


def test_lambda_exception_is_caught_by_its_type_name(tmp_path: Path) -> None:
    functions = FunctionRegistry({"Refuse": "tests.engine.functions_for_tests:refuse"})
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "Refuse", "Payload": {"amount": 5}},
                "Catch": [{"ErrorEquals": ["InsufficientFunds"], "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "End": True},
        },
    }

    async def scenario() -> None:
        engine = _engine(tmp_path, functions=functions)
        rec = await engine.start_execution(machine(definition), name="l2", input="{}")
        done = await engine.wait_for(rec.execution_arn, 30)
        assert done.status == "SUCCEEDED"
        out = json.loads(done.output or "")
        assert out["Error"] == "InsufficientFunds"
        assert json.loads(out["Cause"])["errorMessage"] == "balance too low for 5"
        await engine.close()

    asyncio.run(scenario())


def test_functions_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "functions.yaml"
    good.write_text("Partition: montemap.workflows.functions:partition\n")
    assert load_functions_file(good) == {"Partition": "montemap.workflows.functions:partition"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"X": "not a target"}')
    with pytest.raises(FunctionConfigError, match="entry 'X' must be 'module:function'"):
        load_functions_file(bad)


def test_wait_for_task_token_callback(tmp_path: Path) -> None:
    functions = FunctionRegistry({"Double": "tests.engine.functions_for_tests:double"})
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "Double",
                    "Payload": {"value": 1, "token.$": "$$.Task.Token"},
                },
                "End": True,
            }
        },
    }

    async def scenario() -> None:
        engine = _engine(tmp_path, functions=functions)
        rec = await engine.start_execution(machine(definition), name="cb", input="{}")
        await eventually_async(
            lambda: "TaskSubmitted" in event_types(engine, rec.execution_arn),
            timeout=30,
            what="TaskSubmitted in the history",
        )
        history, _ = engine.get_execution_history(
            rec.execution_arn, reverse=False, max_results=100, next_token=None, include_data=True
        )
        scheduled = next(e for e in history if e["type"] == "TaskScheduled")
        token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["token"]
        await engine.send_task_success(token, '{"approved": true}')
        done = await engine.wait_for(rec.execution_arn, 5)
        assert done.status == "SUCCEEDED"
        assert done.output == '{"approved":true}'
        with pytest.raises(TaskTimedOut):
            await engine.send_task_success(token, "{}")
        with pytest.raises(InvalidToken):
            await engine.send_task_success("AQ-not-a-token", "{}")
        with pytest.raises(TaskDoesNotExist):
            await engine.send_task_success("AQ0" + "A" * 43, "{}")
        await engine.close()

    asyncio.run(scenario())


def test_activity_heartbeat_lapse_is_retried_then_succeeds(tmp_path: Path) -> None:
    clock = ManualClock()

    async def scenario() -> None:
        engine = _engine(tmp_path, clock=clock)
        activity = engine.create_activity("batches")
        definition = {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity.arn,
                    "HeartbeatSeconds": 10,
                    "TimeoutSeconds": 100,
                    "Retry": [
                        {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 5, "MaxAttempts": 2}
                    ],
                    "End": True,
                }
            },
        }
        rec = await engine.start_execution(machine(definition), name="hb", input='{"batch": 1}')
        await settle()
        first = await engine.get_activity_task(activity.arn, "worker-a", wait_seconds=1)
        assert first is not None and json.loads(first[1]) == {"batch": 1}
        # worker-a dies: no heartbeat for 10 s
        clock.advance(9)
        await settle()
        await engine.send_task_heartbeat(first[0])  # still alive at 9 s
        clock.advance(9)
        await settle()
        assert "ActivityTimedOut" not in event_types(engine, rec.execution_arn)
        clock.advance(2)  # 11 s after the last heartbeat
        await eventually_async(
            lambda: "ActivityTimedOut" in event_types(engine, rec.execution_arn),
            what="ActivityTimedOut in the history",
        )
        clock.advance(5)  # the retry interval
        await settle()
        second = await engine.get_activity_task(activity.arn, "worker-b", wait_seconds=1)
        assert second is not None and second[0] != first[0]
        with pytest.raises(TaskTimedOut):
            await engine.send_task_success(first[0], "{}")
        await engine.send_task_success(second[0], '{"done": 1}')
        done = await engine.wait_for(rec.execution_arn, 5)
        assert done.status == "SUCCEEDED" and done.output == '{"done":1}'
        types = event_types(engine, rec.execution_arn)
        assert types.count("ActivityScheduled") == 2 and types.count("ActivityStarted") == 2
        await engine.close()

    asyncio.run(scenario())


def test_get_activity_task_wakes_immediately(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = _engine(tmp_path)
        activity = engine.create_activity("fast")
        definition = {
            "StartAt": "W",
            "States": {"W": {"Type": "Task", "Resource": activity.arn, "End": True}},
        }
        loop = asyncio.get_running_loop()
        poll = asyncio.ensure_future(engine.get_activity_task(activity.arn, None, wait_seconds=30))
        await settle()
        started = loop.time()
        await engine.start_execution(machine(definition), name="w", input="{}")
        got = await asyncio.wait_for(poll, 5)
        assert got is not None
        assert loop.time() - started < 0.5
        await engine.close()

    asyncio.run(scenario())


def test_s3_integrations_on_the_local_store(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("results")
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {"Bucket": "results", "Key": "a/b.json", "Body.$": "$"},
                "ResultPath": None,
                "Next": "Get",
            },
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": "results", "Key": "a/b.json"},
                "ResultSelector": {"body.$": "States.StringToJson($.Body)"},
                "Next": "Missing",
            },
            "Missing": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": "results", "Key": "nope"},
                "Catch": [
                    {
                        "ErrorEquals": ["S3.NoSuchKeyException"],
                        "ResultPath": "$.err",
                        "Next": "Done",
                    }
                ],
                "End": True,
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }

    async def scenario() -> None:
        engine = _engine(tmp_path, store=store)
        rec = await engine.start_execution(machine(definition), name="s3", input='{"x": 1}')
        done = await engine.wait_for(rec.execution_arn, 10)
        assert done.status == "SUCCEEDED", done.cause
        out = json.loads(done.output or "")
        assert out["body"] == {"x": 1}
        assert out["err"]["Error"] == "S3.NoSuchKeyException"
        await engine.close()

    asyncio.run(scenario())
