"""A Task's TimeoutSeconds and HeartbeatSeconds given by a JSONata expression or a
path are held at run time to the rules the definition's own literals are held to
when it is created: a whole number of seconds from 1 to 99999999 (``1.5`` fails the
state; ``2.0`` is 2, from an expression or a path alike: AWS asks both for "a
positive integer", where a path pointing at ``2.0`` used to fail with
``States.Runtime``), and a heartbeat shorter than the timeout (one as long or
longer would never lapse before it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import machine, open_engine, settle

QUERY = "States.QueryEvaluationError"
RUNTIME = "States.Runtime"


def _task(activity_arn: str, fields: dict[str, Any], jsonata: bool) -> dict[str, Any]:
    task = {"Type": "Task", "Resource": activity_arn, "End": True, **fields}
    definition: dict[str, Any] = {"StartAt": "Work", "States": {"Work": task}}
    if jsonata:
        definition["QueryLanguage"] = "JSONata"
    return definition


async def _run(tmp_path: Path, fields: dict[str, Any], jsonata: bool, given: str) -> Any:
    engine = await open_engine(tmp_path / "m.db")
    activity = engine.create_activity("work")
    rec = await engine.start_execution(
        machine(_task(activity.arn, fields, jsonata)), name="t", input=given
    )
    done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
    await engine.close()
    return done


@pytest.mark.parametrize(
    ("fields", "jsonata", "given", "error", "says"),
    [
        ({"TimeoutSeconds": "{% 1.5 %}"}, True, "{}", QUERY, "must be a positive integer"),
        ({"HeartbeatSeconds": "{% 1.5 %}"}, True, "{}", QUERY, "must be a positive integer"),
        ({"TimeoutSecondsPath": "$.t"}, False, '{"t": 1.5}', RUNTIME, "$.t == 1.5"),
        ({"HeartbeatSecondsPath": "$.t"}, False, '{"t": 1.5}', RUNTIME, "$.t == 1.5"),
        (
            {"TimeoutSeconds": 5, "HeartbeatSecondsPath": "$.t"},
            False,
            '{"t": 10}',
            RUNTIME,
            "The HeartbeatSeconds value (10) must be smaller than the TimeoutSeconds value (5)",
        ),
        (
            {"TimeoutSecondsPath": "$.o", "HeartbeatSecondsPath": "$.t"},
            False,
            '{"t": 5, "o": 5}',
            RUNTIME,
            "The HeartbeatSeconds value (5) must be smaller than the TimeoutSeconds value (5)",
        ),
        (
            {"TimeoutSeconds": 5, "HeartbeatSeconds": "{% 10 %}"},
            True,
            "{}",
            RUNTIME,
            "The HeartbeatSeconds value (10) must be smaller than the TimeoutSeconds value (5)",
        ),
    ],
    ids=[
        "jsonata-timeout-fraction",
        "jsonata-heartbeat-fraction",
        "timeout-path-fraction",
        "heartbeat-path-fraction",
        "heartbeat-path-over-timeout",
        "heartbeat-path-equal-timeout-path",
        "jsonata-heartbeat-over-timeout",
    ],
)
def test_an_invalid_value_fails_the_state(
    tmp_path: Path, fields: dict[str, Any], jsonata: bool, given: str, error: str, says: str
) -> None:
    done = asyncio.run(_run(tmp_path, fields, jsonata, given))
    assert done.status == "FAILED"
    assert done.error == error
    assert says in (done.cause or "")


@pytest.mark.parametrize(
    ("fields", "jsonata", "given"),
    [
        ({"TimeoutSeconds": "{% 4.0 %}", "HeartbeatSeconds": "{% 1 + 1 %}"}, True, "{}"),
        ({"TimeoutSeconds": 5, "HeartbeatSecondsPath": "$.t"}, False, '{"t": 4}'),
        (
            {"TimeoutSecondsPath": "$.t", "HeartbeatSecondsPath": "$.h"},
            False,
            '{"t": 4.0, "h": 2.0}',
        ),
    ],
    ids=["jsonata-whole-numbers", "heartbeat-path-under-timeout", "path-whole-numbers"],
)
def test_a_valid_value_schedules_the_task(
    tmp_path: Path, fields: dict[str, Any], jsonata: bool, given: str
) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        activity = engine.create_activity("work")
        rec = await engine.start_execution(
            machine(_task(activity.arn, fields, jsonata)), name="t", input=given
        )
        await settle()
        claimed = await engine.get_activity_task(activity.arn, "w", wait_seconds=1)
        assert claimed is not None, engine.describe_execution(rec.execution_arn)
        await engine.close()

    asyncio.run(scenario())
