"""Large texts are written once (the ``texts`` table) and read back exactly as before.

``data/v1.db`` was written by the montemap before the ``texts`` table (schema
version 1, the code of the commit before it): a finished execution and one
waiting for its activity task, both with inputs of a few KB (non-ASCII
characters, quotes and backslashes in them) and a large output.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.dbcheck import SCHEMA_VERSION
from montemap.engine.engine import Engine
from montemap.engine.records import StateMachineRef
from montemap.engine.texts import MIN_CHARS

ARNS = ArnFactory()
V1_DB = Path(__file__).parent / "data" / "v1.db"
DONE = ARNS.execution("v1", "done")
WAITING = ARNS.execution("v1", "waiting")
ACTIVITY = ARNS.activity("v1-work")


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def history(engine: Engine, arn: str) -> list[dict[str, Any]]:
    events, _ = engine.get_execution_history(
        arn, reverse=False, max_results=1000, next_token=None, include_data=True
    )
    return events


def details_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event's details (the one ``*EventDetails`` member), in order."""
    out = []
    for event in events:
        found = [v for k, v in event.items() if k.endswith("EventDetails")]
        out.append(found[0] if found else {})
    return out


def raw_details(path: Path, arn: str) -> list[dict[str, Any]]:
    rows = raw(path, "SELECT details FROM events WHERE execution_arn = ? ORDER BY id", (arn,))
    return [json.loads(d) if d else {} for (d,) in rows]


def big_input(tag: str) -> str:
    items = [
        {"Key": f"loans/{tag}/{i:05d}.json", "Note": 'Zürich "q" \\', "N": i} for i in range(80)
    ]
    return json.dumps(
        {"BatchInput": {"tag": tag}, "Items": items}, separators=(",", ":"), ensure_ascii=False
    )


def test_a_database_of_the_previous_version_reads_the_same_and_carries_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    shutil.copy(V1_DB, path)
    assert raw(path, "PRAGMA user_version") == [(1,)]
    before = {arn: raw_details(path, arn) for arn in (DONE, WAITING)}
    (old_task_input,) = raw(path, "SELECT input FROM activity_tasks WHERE status = 'SCHEDULED'")[0]
    (old_done_input,) = raw(path, "SELECT input FROM executions WHERE arn = ?", (DONE,))[0]
    assert len(old_task_input) > MIN_CHARS  # the rows hold large texts in place

    async def scenario() -> None:
        db = Database(path)
        engine = Engine(db, arns=ARNS)
        await engine.start()  # resumes the waiting execution from its checkpoint
        try:
            for arn, old in before.items():
                assert details_of(history(engine, arn)) == old
            assert engine.describe_execution(DONE).input == old_done_input
            task = await engine.get_activity_task(ACTIVITY, "new-worker", wait_seconds=5)
            assert task is not None and task[1] == old_task_input
            output = json.dumps({"result": big_input("new-output")})
            await engine.send_task_success(task[0], output)
            record = await engine.wait_for(WAITING, 30)
            assert record.status == "SUCCEEDED" and json.loads(record.output or "") == json.loads(
                output
            )
            events = details_of(history(engine, WAITING))
            assert events[: len(before[WAITING])] == before[WAITING]
            succeeded, exited, ended = (e["output"] for e in events[-3:])
            assert succeeded == output  # the worker's text; the state's output is compact
            assert json.loads(exited) == json.loads(ended) == json.loads(output)
        finally:
            await engine.close()
            db.close()

    asyncio.run(scenario())
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def machine(activity: str) -> StateMachineRef:
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
    }
    return StateMachineRef(
        arn=ARNS.state_machine("once"),
        name="once",
        definition=json.dumps(definition),
        role_arn="arn:aws:iam::123456789012:role/test",
    )


def test_a_large_input_is_written_once_and_every_reader_gets_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    text = big_input("once")
    arn = ARNS.execution("once", "e")

    async def scenario() -> None:
        db = Database(path)
        engine = Engine(db, arns=ARNS)
        activity = engine.create_activity("once-work").arn
        await engine.start()
        try:
            await engine.start_execution(machine(activity), name="e", input=text)
            task = await engine.get_activity_task(activity, "w", wait_seconds=5)
            assert task is not None and task[1] == text
            pending = details_of(history(engine, arn))
            assert [e.get("input") for e in pending] == [text, text, text, None]
            assert engine.describe_execution(arn).input == text
        finally:
            await engine.close()
            db.close()
        db = Database(path)  # a restart reads the checkpoint and the task back
        engine = Engine(db, arns=ARNS)
        await engine.start()
        try:
            assert engine.runs[arn].frames[""].input == json.loads(text)
            (token,) = raw(path, "SELECT token FROM activity_tasks")[0]
            await engine.send_task_success(token, text)
            record = await engine.wait_for(arn, 30)
            assert record.status == "SUCCEEDED" and record.output == text
        finally:
            await engine.close()
            db.close()

    asyncio.run(scenario())
    stored = raw(path, "SELECT text FROM texts")
    assert [t for (t,) in stored] == [text]  # input and output: the same text, once
    (largest,) = raw(path, "SELECT MAX(LENGTH(details)) FROM events")[0]
    assert largest < MIN_CHARS  # no event holds the text itself
    (in_place,) = raw(
        path,
        "SELECT (SELECT COUNT(*) FROM frames WHERE LENGTH(input) >= ?)"
        " + (SELECT COUNT(*) FROM activity_tasks WHERE LENGTH(input) >= ?)"
        " + (SELECT COUNT(*) FROM executions WHERE LENGTH(input) >= ?)",
        (MIN_CHARS, MIN_CHARS, MIN_CHARS),
    )[0]
    assert in_place == 0  # no execution, checkpoint or task holds it either


def test_a_large_text_that_is_not_valid_unicode_fails_the_execution_not_the_commit(
    tmp_path: Path,
) -> None:
    """A lone surrogate in a large result: refused at the step (States.Runtime), as a small one."""
    output = json.dumps({"bad": "\ud800", "pad": "p" * (2 * MIN_CHARS)})  # ASCII escapes

    async def scenario() -> tuple[str, str | None, str | None]:
        db = Database(tmp_path / "m.db")
        engine = Engine(db, arns=ARNS)
        activity = engine.create_activity("once-work").arn
        await engine.start()
        try:
            record = await engine.start_execution(machine(activity), name="bad", input="{}")
            task = await engine.get_activity_task(activity, "w", wait_seconds=5)
            assert task is not None
            await engine.send_task_success(task[0], output)
            ended = await engine.wait_for(record.execution_arn, 30)
            return ended.status, ended.error, ended.cause
        finally:
            await engine.close()
            db.close()

    status, error, cause = asyncio.run(scenario())
    assert (status, error) == ("FAILED", "States.Runtime")
    assert cause is not None and "not valid Unicode" in cause
