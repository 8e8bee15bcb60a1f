"""ASL semantics where montemap once differed from AWS, run on the engine itself."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from montemap.engine.clock import ManualClock
from montemap.engine.records import ExecutionRecord
from tests.engine.helpers import machine, open_engine, settle


def run(tmp_path: Path, definition: dict[str, Any], data: Any = None) -> ExecutionRecord:
    async def scenario() -> ExecutionRecord:
        engine = await open_engine(tmp_path / "m.db")
        try:
            started = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({} if data is None else data)
            )
            return await engine.wait_for(started.execution_arn, 30)
        finally:
            await engine.close()

    return asyncio.run(scenario())


def test_jsonata_condition_of_the_wrong_type_names_json_types(tmp_path: Path) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.v %}", "Next": "Y"}],
                "Default": "Y",
            },
            "Y": {"Type": "Succeed"},
        },
    }
    done = run(tmp_path, definition, {"v": {"a": "x"}})
    assert done.error == "States.QueryEvaluationError"
    assert done.cause is not None
    assert done.cause.endswith(
        "The JSONata expression '$states.input.v' specified for the field 'Condition' "
        "returned an unexpected result type. Expected 'boolean', but was 'object' "
        'for value: {"a":"x"}'
    )


def test_an_express_execution_times_out_after_five_minutes(tmp_path: Path) -> None:
    definition = {
        "TimeoutSeconds": 3600,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}},
    }

    async def scenario() -> tuple[str, str]:
        clock = ManualClock()
        engine = await open_engine(tmp_path / "m.db", clock=clock)
        try:
            ref = dataclasses.replace(machine(definition), type="EXPRESS")
            express = await engine.start_execution(ref, name="x", input="{}")
            standard = await engine.start_execution(machine(definition), name="s", input="{}")
            await settle()
            clock.advance(299)
            await settle()
            assert engine.describe_execution(express.execution_arn).status == "RUNNING"
            clock.advance(2)
            await settle()
            return (
                engine.describe_execution(express.execution_arn).status,
                engine.describe_execution(standard.execution_arn).status,
            )
        finally:
            await engine.close()

    assert asyncio.run(scenario()) == ("TIMED_OUT", "RUNNING")


def test_paths_with_trailing_spaces_run_as_on_aws(tmp_path: Path) -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {"name.$": "$$.Execution.Name ", "v.$": "$.v  "},
                "ResultPath": "$.r ",
                "Next": "C",
            },
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.r.v ", "NumericEquals": 7, "Next": "Out"}],
                "Default": "Out",
            },
            "Out": {"Type": "Pass", "OutputPath": "$.r ", "End": True},
        },
    }
    done = run(tmp_path, definition, {"v": 7})
    assert done.status == "SUCCEEDED", (done.error, done.cause)
    assert json.loads(done.output or "null") == {"name": "e", "v": 7}
