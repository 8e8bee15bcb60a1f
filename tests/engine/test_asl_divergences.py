"""ASL semantics where montemap once differed from AWS, run on the engine itself."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from montemap.engine.records import ExecutionRecord
from tests.engine.helpers import machine, open_engine


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
