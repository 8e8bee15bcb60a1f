"""The Map state's own output (no S3 export): WriterConfig's Transformation, failed children.

AWS (ResultWriter (Map), "Contents of the ResultWriter field"): ``COMPACT`` is the
default when there is no ``ResultWriter``; a ``ResultWriter`` with only
``WriterConfig`` shapes the state's output without saving it to S3 (``NONE``: the
children's records with their metadata, ``FLATTEN``: array outputs flattened); a
child that failed is returned unchanged, as with ``NONE``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.dmap.engine_env import dmap, engine_at, machine

ECHO = {"Echo": {"Type": "Pass", "End": True}}
FAIL_ODD = {
    "Odd": {
        "Type": "Choice",
        "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "Boom"}],
        "Default": "Done",
    },
    "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "item one"},
    "Done": {"Type": "Pass", "End": True},
}


def run_map(path: Path, definition: dict[str, Any], payload: Any) -> Any:
    async def go() -> Any:
        async with engine_at(path) as engine:
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps(payload)
            )
            return await asyncio.wait_for(engine.wait_for(rec.execution_arn), 60)

    done = asyncio.run(go())
    assert done.status == "SUCCEEDED", done.cause
    return json.loads(done.output or "")


def preview(transformation: str) -> dict[str, Any]:
    return {"WriterConfig": {"Transformation": transformation, "OutputType": "JSON"}}


def test_writer_config_flatten_flattens_the_output(tmp_path: Path) -> None:
    definition = dmap(ECHO, execution_type="EXPRESS", ResultWriter=preview("FLATTEN"))
    out = run_map(tmp_path, definition, {"items": [[1], [2, 3], 4, []]})
    assert out == [1, 2, 3, 4]


def test_writer_config_compact_is_the_outputs(tmp_path: Path) -> None:
    definition = dmap(ECHO, execution_type="EXPRESS", ResultWriter=preview("COMPACT"))
    assert run_map(tmp_path, definition, {"items": [[1], {"a": 2}]}) == [[1], {"a": 2}]


def test_writer_config_none_returns_the_records(tmp_path: Path) -> None:
    definition = dmap(ECHO, ResultWriter=preview("NONE"))
    out = run_map(tmp_path, definition, {"items": [{"a": 1}, 2]})
    assert [(r["Status"], json.loads(r["Input"]), json.loads(r["Output"])) for r in out] == [
        ("SUCCEEDED", {"a": 1}, {"a": 1}),
        ("SUCCEEDED", 2, 2),
    ]
    assert all(r["ExecutionArn"].endswith(r["Name"]) for r in out)


def test_a_tolerated_failure_is_its_record(tmp_path: Path) -> None:
    definition = dmap(FAIL_ODD, execution_type="EXPRESS", ToleratedFailureCount=1)
    out = run_map(tmp_path, definition, {"items": [0, 1, 2]})
    assert out[0] == 0 and out[2] == 2
    failed = out[1]
    assert isinstance(failed, dict)
    assert (failed["Status"], failed["Error"], failed["Cause"]) == ("FAILED", "Boom", "item one")
    assert json.loads(failed["Input"]) == 1
    assert "Output" not in failed


def test_flatten_keeps_a_failed_record_whole(tmp_path: Path) -> None:
    definition = dmap(
        FAIL_ODD, execution_type="EXPRESS", ToleratedFailureCount=1, ResultWriter=preview("FLATTEN")
    )
    out = run_map(tmp_path, definition, {"items": [0, 1]})
    assert out[0] == 0
    assert out[1]["Status"] == "FAILED" and out[1]["Error"] == "Boom"
