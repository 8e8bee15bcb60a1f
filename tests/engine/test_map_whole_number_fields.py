"""A Map's ``MaxConcurrency`` and ``ToleratedFailureCount`` written as whole-valued
floats (``2.0``: accepted at create time as the integer 2, JSON having one number
type) run as ``2`` does, from the definition, a JSONata expression or a path alike.
They used to pass validation and then fail every execution with ``States.Runtime``
("must be a non-negative integer, but was: 2.0", "must be an integer.")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.asl.definition import validate_definition
from tests.engine.helpers import machine, open_engine


def _definition(fields: dict[str, Any], jsonata: bool) -> dict[str, Any]:
    inner = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
    definition: dict[str, Any] = {
        "StartAt": "Each",
        "States": {"Each": {"Type": "Map", "ItemProcessor": inner, "End": True, **fields}},
    }
    if jsonata:
        definition["QueryLanguage"] = "JSONata"
    return definition


@pytest.mark.parametrize(
    ("fields", "jsonata", "given"),
    [
        ({"MaxConcurrency": 2.0}, False, [1, 2, 3]),
        ({"ToleratedFailureCount": 2.0}, False, [1, 2, 3]),
        ({"MaxConcurrency": "{% 4 / 2 %}", "ToleratedFailureCount": "{% 2.0 %}"}, True, [1, 2]),
        (
            {"ItemsPath": "$.items", "ToleratedFailureCountPath": "$.count"},
            False,
            {"items": [1, 2], "count": 1.0},
        ),
    ],
    ids=["max-concurrency", "tolerated-count", "jsonata", "tolerated-count-path"],
)
def test_a_whole_valued_float_runs_as_its_integer(
    tmp_path: Path, fields: dict[str, Any], jsonata: bool, given: Any
) -> None:
    definition = _definition(fields, jsonata)
    assert [d for d in validate_definition(definition) if d.severity == "ERROR"] == []

    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        rec = await engine.start_execution(machine(definition), name="t", input=json.dumps(given))
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        await engine.close()
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        items = given["items"] if isinstance(given, dict) else given
        assert json.loads(done.output or "") == items

    asyncio.run(scenario())
