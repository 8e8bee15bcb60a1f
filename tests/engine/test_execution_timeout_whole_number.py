"""A state machine's own ``TimeoutSeconds`` written as a whole-valued float (``2.0``,
accepted at create time as the integer 2, as AWS reads JSON numbers) bounds the
execution as ``2`` does: it ends ``TIMED_OUT`` when the time is up. It used to be
ignored at run time (only a Python int was read), so the execution ran on forever."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from montemap.asl.definition import validate_definition
from montemap.engine.clock import ManualClock
from tests.engine.helpers import machine, open_engine, settle


def _definition(timeout: Any) -> dict[str, Any]:
    return {
        "StartAt": "Hold",
        "TimeoutSeconds": timeout,
        "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}},
    }


@pytest.mark.parametrize("timeout", [2, 2.0])
def test_the_execution_times_out_after_its_timeout_seconds(tmp_path: Path, timeout: Any) -> None:
    definition = _definition(timeout)
    assert [d for d in validate_definition(definition) if d.severity == "ERROR"] == []
    clock = ManualClock()

    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db", clock)
        rec = await engine.start_execution(machine(definition), name="t", input="{}")
        await settle()
        clock.advance(3)
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        assert done.status == "TIMED_OUT"
        await engine.close()

    asyncio.run(scenario())
