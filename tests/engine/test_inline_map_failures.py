"""An inline Map fails at its first failed iteration, whatever ToleratedFailureCount or
ToleratedFailurePercentage say: AWS documents that in INLINE mode "if any iteration
fails, the Map state fails", tolerated failures being a Distributed Map's (Map Run's)
setting. The Map's error is the iteration's own, which a Catch on the Map receives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from tests.engine.helpers import event_types, machine


def _inline_map(tolerance: dict[str, Any], *, catch: bool = False) -> dict[str, Any]:
    fail_on_two = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Boom"}],
                "Default": "Fine",
            },
            "Boom": {"Type": "Fail", "Error": "Item.Bad", "Cause": "item 2"},
            "Fine": {"Type": "Pass", "End": True},
        },
    }
    state: dict[str, Any] = {
        "Type": "Map",
        "MaxConcurrency": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **fail_on_two},
        "End": True,
        **tolerance,
    }
    if catch:
        state["Catch"] = [{"ErrorEquals": ["Item.Bad"], "Next": "Caught"}]
    states: dict[str, Any] = {"M": state}
    if catch:
        states["Caught"] = {"Type": "Pass", "End": True}
    return {"StartAt": "M", "States": states}


@pytest.mark.parametrize(
    "tolerance",
    [
        {"ToleratedFailurePercentage": 100},
        {"ToleratedFailureCount": 5},
        {"ToleratedFailureCountPath": "$.n"},
    ],
    ids=["percentage-100", "count-5", "count-path"],
)
def test_an_inline_map_fails_with_its_first_failed_iteration(
    tmp_path: Path, tolerance: dict[str, Any]
) -> None:
    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        definition = _inline_map({**tolerance, "ItemsPath": "$.items"})
        rec = await engine.start_execution(
            machine(definition), name="t", input=json.dumps({"items": [1, 2, 3], "n": 5})
        )
        done = await engine.wait_for(rec.execution_arn, 30)
        assert (done.status, done.error, done.cause) == ("FAILED", "Item.Bad", "item 2")
        types = event_types(engine, rec.execution_arn)
        assert types.count("MapIterationFailed") == 1
        # MaxConcurrency 1: the third item is never started once the second failed
        assert types.count("MapIterationStarted") == 2
        assert "MapStateFailed" in types and "MapStateSucceeded" not in types
        await engine.close()

    asyncio.run(scenario())


def test_a_catch_on_the_inline_map_gets_the_iteration_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        definition = _inline_map({"ToleratedFailurePercentage": 100}, catch=True)
        rec = await engine.start_execution(machine(definition), name="c", input="[1, 2, 3]")
        done = await engine.wait_for(rec.execution_arn, 30)
        assert done.status == "SUCCEEDED", done.cause
        assert json.loads(done.output or "") == {"Error": "Item.Bad", "Cause": "item 2"}
        await engine.close()

    asyncio.run(scenario())
