"""The top frame's last Exited event goes out with the execution's end.

A successful execution used to commit its last state's Exited event with a final
checkpoint of the top frame, then its end, whose transaction deletes every checkpoint:
two steps in the same group, one of them a checkpoint built only to be dropped. The
Exited event now goes out in the end's own commit. The history is unchanged: the same
events, ids, previous ids and details.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.engine import Engine
from tests.engine.helpers import machine, open_engine

PASS = {"Type": "Pass", "End": True}
MACHINES: dict[str, dict[str, Any]] = {
    "pass": {"StartAt": "A", "States": {"A": {**PASS, "Result": {"x": 1}}}},
    "parallel": {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "B1", "States": {"B1": PASS}},
                    {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "Next": "B3"}, "B3": PASS}},
                ],
            }
        },
    },
    "map": {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "End": True,
                "ItemProcessor": {"StartAt": "I", "States": {"I": PASS}},
            }
        },
    },
}
#: The last state's events before its Exited event, as the state writes them.
LAST_BEFORE_EXIT = {"pass": "PassStateEntered", "parallel": "ParallelStateSucceeded"}
LAST_BEFORE_EXIT["map"] = "MapStateSucceeded"


async def _run(engine: Engine, definition: dict[str, Any]) -> list[dict[str, Any]]:
    started = await engine.start_execution(
        machine(definition), name="e", input=json.dumps({"items": [1, 2, 3]})
    )
    record = await asyncio.wait_for(engine.wait_for(started.execution_arn), 10)
    assert record.status == "SUCCEEDED"
    events, _ = engine.get_execution_history(
        started.execution_arn, reverse=False, max_results=1000, next_token=None, include_data=True
    )
    return events


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_the_history_ends_as_before(tmp_path: Path, name: str) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        events = await _run(engine, MACHINES[name])
        ids = [e["id"] for e in events]
        assert ids == list(range(1, len(events) + 1))
        *_, before, exited, end = events
        assert end["type"] == "ExecutionSucceeded" and end["previousEventId"] == exited["id"]
        assert exited["type"] == MACHINES[name]["States"][MACHINES[name]["StartAt"]]["Type"] + (
            "StateExited"
        )
        assert before["type"] == LAST_BEFORE_EXIT[name]
        assert exited["previousEventId"] == before["id"]
        assert exited["timestamp"] <= end["timestamp"]
        details = exited["stateExitedEventDetails"]
        assert json.loads(details["output"]) == json.loads(
            end["executionSucceededEventDetails"]["output"]
        )
        await engine.close()

    asyncio.run(scenario())


def test_the_end_takes_one_commit_and_no_last_checkpoint(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        store = engine.store
        steps: list[int] = []
        built: list[str] = []
        commit, frame_row = store.commit, store._frame_row

        def counted_commit(*args: Any, **kwargs: Any) -> None:
            steps.append(len(kwargs.get("events", ())))
            commit(*args, **kwargs)

        def counted_frame_row(arn: str, frame: Any) -> tuple[Any, ...]:
            built.append(frame.status)
            return frame_row(arn, frame)

        store.commit = counted_commit  # type: ignore[method-assign]
        store._frame_row = counted_frame_row  # type: ignore[method-assign,assignment]
        events = await _run(engine, MACHINES["pass"])
        assert [e["type"] for e in events] == [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded",
        ]
        # ExecutionStarted with the first Entered event, then the Exited event with the end.
        assert steps == [2, 2]
        assert built == ["RUNNING"]  # the SUCCEEDED top frame is never checkpointed
        await engine.close()

    asyncio.run(scenario())
