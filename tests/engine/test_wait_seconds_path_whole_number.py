"""A Wait state's ``SecondsPath`` that finds a whole-valued float (``2.0``) waits 2
seconds, as ``"Seconds": 2.0`` and ``"Seconds": "{% 2.0 %}"`` do: JSON has one number
type. AWS's recorded cases refuse only a fraction (``1.5``: "cannot be parsed as a long
value"). It used to fail every execution with that message for ``2.0`` too."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.clock import ManualClock
from tests.engine.helpers import machine, open_engine, settle

WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}


def test_seconds_path_of_a_whole_valued_float_waits_that_long(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        engine = await open_engine(tmp_path / "m.db", clock)
        rec = await engine.start_execution(machine(WAIT), name="t", input='{"s": 2.0}')
        await settle()
        clock.advance(1)
        await settle()
        assert engine.describe_execution(rec.execution_arn).status == "RUNNING"
        clock.advance(1)
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        await engine.close()
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        assert json.loads(done.output or "") == {"s": 2.0}

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("seconds", "cause"),
    [
        (1.5, "The SecondsPath parameter cannot be parsed as a long value: $.s == 1.5"),
        (-1.0, "The SecondsPath parameter references a negative value: $.s == -1.0"),
        (1e300, "The SecondsPath parameter cannot be parsed as a long value: $.s == 1e+300"),
    ],
)
def test_seconds_path_still_refuses_what_is_not_a_whole_number_of_seconds(
    tmp_path: Path, seconds: Any, cause: str
) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        rec = await engine.start_execution(
            machine(WAIT), name="t", input=json.dumps({"s": seconds})
        )
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        await engine.close()
        assert (done.status, done.error) == ("FAILED", "States.Runtime")
        assert (done.cause or "").endswith(cause), done.cause

    asyncio.run(scenario())
