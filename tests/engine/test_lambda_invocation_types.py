"""``lambda:invoke`` with ``InvocationType`` ``Event`` on a registered function: the task
answers 202 at once (an empty Payload) and the function still runs; a missing name fails."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.lambdas import FunctionRegistry
from montemap.testing import eventually_async
from tests.engine.helpers import machine


def write_marker(event: Any, context: Any) -> Any:
    """A registered function with a side effect the test can see."""
    Path(event["path"]).write_text("ran")
    return "ignored"


def _event_call(name: str, path: Path) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": name,
                    "InvocationType": "Event",
                    "Payload": {"path": str(path)},
                },
                "End": True,
            }
        },
    }


def test_lambda_invoke_event_answers_202_and_runs_the_function(tmp_path: Path) -> None:
    target = "tests.engine.test_lambda_invocation_types:write_marker"
    functions = FunctionRegistry({"Mark": target})
    marker = tmp_path / "ran.txt"

    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory(), functions=functions)
        rec = await engine.start_execution(
            machine(_event_call("Mark", marker)), name="e1", input="{}"
        )
        done = await engine.wait_for(rec.execution_arn, 30)
        assert done.status == "SUCCEEDED", done.cause
        output = json.loads(done.output or "")
        assert output["StatusCode"] == 202 and output["Payload"] == ""
        assert "ExecutedVersion" not in output
        await eventually_async(lambda: True if marker.exists() else None, timeout=30)
        missing = await engine.start_execution(
            machine(_event_call("Absent", marker)), name="e2", input="{}"
        )
        failed = await engine.wait_for(missing.execution_arn, 30)
        assert failed.error == "Lambda.ResourceNotFoundException"
        await engine.close()
        functions.close()

    asyncio.run(scenario())
