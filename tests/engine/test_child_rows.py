"""A child execution's rows and records, made without reading them back.

``start_execution`` takes the row it inserted from ``insert_execution`` (every
column, the input text itself) instead of reading it back; a second start with
the same name is refused by the table's UNIQUE ARN. ``wait_for`` hands a
waiter the record the ending run wrote. ``GetActivityTask`` answers a Map
child's task with the execution's own input text. Each must read exactly what
the database holds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.errors import ExecutionAlreadyExists
from montemap.engine.records import ExecutionRecord
from montemap.engine.store import ExecutionStore
from montemap.engine.texts import MIN_CHARS
from tests.engine.helpers import event_types, machine, open_engine, settle

ARNS = ArnFactory()


def _row(name: str, text: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "arn": ARNS.execution("sm", name),
        "state_machine_arn": ARNS.state_machine("sm"),
        "state_machine_name": "sm",
        "name": name,
        "type": "STANDARD",
        "definition": "{}",
        "role_arn": "arn:aws:iam::123456789012:role/test",
        "revision_id": None,
        "status": "RUNNING",
        "input": text,
        "start_date": 1234.5,
        **extra,
    }


@pytest.mark.parametrize("size", [10, MIN_CHARS + 10])
def test_inserted_row_is_the_row_read_back(tmp_path: Path, size: int) -> None:
    store = ExecutionStore(Database(tmp_path / "m.db"))
    text = json.dumps({"k": 'é"\\' + "x" * size})
    for i, extra in enumerate([{}, {"map_run_arn": "arn:run", "parent_arn": "arn:parent"}]):
        inserted = store.insert_execution(_row(f"e{i}", text, **extra))
        read = store.get_execution(inserted["arn"])
        assert read is not None
        assert inserted == read
        assert list(inserted) == list(read)  # the columns, in the table's order
        assert inserted["input"] is text
        assert (inserted["input_ref"] is not None) == (len(text) >= MIN_CHARS)


def test_a_taken_name_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        sm = machine(
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
        )
        text = json.dumps({"big": "y" * MIN_CHARS})
        first = await engine.start_execution(sm, name="n", input=text)
        again = await engine.start_execution(sm, name="n", input=text)  # idempotent
        assert again == first
        with pytest.raises(ExecutionAlreadyExists):
            await engine.start_execution(sm, name="n", input='{"other": 1}')
        rows = engine.db.query("SELECT COUNT(*) AS n FROM executions")
        assert rows[0]["n"] == 1
        assert event_types(engine, first.execution_arn) == ["ExecutionStarted", "WaitStateEntered"]
        await engine.close()

    asyncio.run(scenario())


def test_waiters_get_the_record_the_database_holds(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        activity = engine.create_activity("work")
        sm = machine(
            {
                "StartAt": "T",
                "States": {"T": {"Type": "Task", "Resource": activity.arn, "End": True}},
            }
        )
        text = json.dumps({"Items": [{"Key": f"k{i}"} for i in range(MIN_CHARS // 8)]}).replace(
            " ", ""
        )
        started = await engine.start_execution(
            sm, name="child", input=text, compact_input=True, input_value=json.loads(text)
        )
        waiter = asyncio.ensure_future(engine.wait_for(started.execution_arn))
        await settle()
        task = await engine.get_activity_task(activity.arn, "w", wait_seconds=1)
        assert task is not None
        token, task_input = task
        assert task_input == text
        run = engine.runs[started.execution_arn]
        assert task_input is run.row["input"]  # not read back
        await engine.send_task_success(token, '{"done":true}')
        record = await asyncio.wait_for(waiter, 10)
        described = engine.describe_execution(started.execution_arn)
        assert isinstance(record, ExecutionRecord)
        assert record == described
        assert record.input is run.row["input"]  # the ending run's, not read back
        assert record.status == "SUCCEEDED" and record.output == '{"done":true}'
        # A waiter that comes after the end reads it from the database.
        assert await engine.wait_for(started.execution_arn) == described
        assert event_types(engine, started.execution_arn) == [
            "ExecutionStarted",
            "TaskStateEntered",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivitySucceeded",
            "TaskStateExited",
            "ExecutionSucceeded",
        ]
        await engine.close()

    asyncio.run(scenario())


def test_a_failed_end_is_the_record_too(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine: Engine = await open_engine(tmp_path / "m.db")
        activity = engine.create_activity("work")
        sm = machine(
            {
                "StartAt": "T",
                "States": {"T": {"Type": "Task", "Resource": activity.arn, "End": True}},
            }
        )
        started = await engine.start_execution(sm, name="f", input='{"a":1}')
        waiter = asyncio.ensure_future(engine.wait_for(started.execution_arn))
        await settle()
        task = await engine.get_activity_task(activity.arn, None, wait_seconds=1)
        assert task is not None
        await engine.send_task_failure(task[0], "E", "c")
        record = await asyncio.wait_for(waiter, 10)
        assert record == engine.describe_execution(started.execution_arn)
        assert (record.status, record.error, record.cause) == ("FAILED", "E", "c")
        await engine.close()

    asyncio.run(scenario())
