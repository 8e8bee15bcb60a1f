"""AWS's quota on one execution's history: past it the execution fails, uncatchably."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.run import MAX_HISTORY_EVENTS
from tests.engine.helpers import event_types, machine

LOOP = {"StartAt": "Loop", "States": {"Loop": {"Type": "Pass", "Next": "Loop"}}}


def _run(tmp_path: Path, definition: dict[str, Any], limit: int) -> tuple[Any, list[str]]:
    async def scenario() -> tuple[Any, list[str]]:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory(), max_history_events=limit)
        await engine.start()
        try:
            started = await engine.start_execution(machine(definition), name="e", input="{}")
            done = await engine.wait_for(started.execution_arn, 60)
            return done, event_types(engine, started.execution_arn)
        finally:
            await engine.close()

    return asyncio.run(scenario())


def test_the_default_is_aws_quota() -> None:
    assert MAX_HISTORY_EVENTS == 25_000


def test_an_endless_loop_fails_at_the_history_limit(tmp_path: Path) -> None:
    done, events = _run(tmp_path, LOOP, limit=60)
    assert done.status == "FAILED"
    assert done.error == "States.Runtime"
    assert "maximum number of events in its history (60)" in (done.cause or "")
    assert len(events) <= 60
    assert events[-1] == "ExecutionFailed"


def test_the_limit_cannot_be_caught(tmp_path: Path) -> None:
    guarded = {
        "StartAt": "Guard",
        "States": {
            "Guard": {
                "Type": "Parallel",
                "Branches": [LOOP],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    done, events = _run(tmp_path, guarded, limit=80)
    assert (done.status, done.error) == ("FAILED", "States.Runtime")
    assert "SucceedStateEntered" not in events
    assert len(events) <= 80
