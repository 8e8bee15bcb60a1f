"""Start-up resumes the unfinished executions and reads nothing of the finished ones.

A server that has run for weeks holds many finished executions (with their
histories, checkpoints kept for a redrive and activity tasks); restarting it
must cost what the *running* executions cost. The work ``Engine.start()`` does
in SQLite is counted (statements, and virtual-machine steps, which grow with
every row a statement reads), not timed: the same database before and after
its finished executions are multiplied a thousandfold must cost the same.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from tests.engine.helpers import event_types, machine

COPIES = 1_000
PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom"}}}
MAP = {
    "StartAt": "M",
    "States": {
        "M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    },
}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 99_999, "End": True}}}
PARALLEL_WAIT = {
    "StartAt": "Both",
    "States": {"Both": {"Type": "Parallel", "Branches": [WAIT, WAIT], "End": True}},
}


@dataclass(frozen=True)
class Cost:
    statements: int
    steps: int
    resumed: int


def _build(path: Path) -> None:
    """A few finished executions of each kind (one holds an activity task) and three
    running ones (a Wait, a Parallel of two Waits, an activity task not yet claimed)."""

    async def scenario() -> None:
        engine = Engine(Database(path), arns=ArnFactory())
        await engine.start()
        activity = engine.create_activity("work").arn
        task = {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": activity, "End": True}},
        }
        finished = [
            await engine.start_execution(machine(d, n), name="done", input="[1, 2, 3]")
            for d, n in ((PASS, "pass"), (FAIL, "fail"), (MAP, "map"), (task, "task"))
        ]
        claimed = await engine.get_activity_task(activity, "w", wait_seconds=10)
        assert claimed is not None
        await engine.send_task_success(claimed[0], "{}")
        for rec in finished:
            assert (await engine.wait_for(rec.execution_arn, 30)).status != "RUNNING"
        for d, n in ((WAIT, "wait"), (PARALLEL_WAIT, "parallel"), (task, "task")):
            await engine.start_execution(machine(d, n), name="running", input="[]")
        await engine.close()
        engine.db.close()

    asyncio.run(scenario())


def _multiply_finished(path: Path, copies: int) -> int:
    """Copy every finished execution (its row, events, frames, activity tasks) ``copies``
    times, in SQLite directly; the number of finished executions afterwards."""
    conn = sqlite3.connect(path)
    try:
        columns = {
            table: [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "seq"]
            for table in ("executions", "events", "frames", "activity_tasks")
        }
        renamed = {"executions": ("arn", "name"), "activity_tasks": ("execution_arn", "token")}
        conn.execute(
            "CREATE TEMP TABLE done AS SELECT arn FROM executions WHERE status != 'RUNNING'"
        )
        with conn:
            for copy in range(copies):
                for table, cols in columns.items():
                    keys = renamed.get(table, ("execution_arn",))
                    select = ", ".join(f"{c} || '~{copy}'" if c in keys else c for c in cols)
                    owner = "arn" if table == "executions" else "execution_arn"
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table}"
                        f" WHERE {owner} IN (SELECT arn FROM done)"
                    )
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM executions WHERE status != 'RUNNING'"
        ).fetchone()
        return int(count)
    finally:
        conn.close()


def _start_cost(path: Path) -> Cost:
    """What ``Engine.start()`` asks of SQLite on the engine's connection."""
    statements = [0]
    steps = [0]

    def traced(_: str) -> None:
        statements[0] += 1

    def step() -> int:
        steps[0] += 1
        return 0

    async def scenario() -> Cost:
        db = Database(path)
        engine = Engine(db, arns=ArnFactory())
        db.conn.set_trace_callback(traced)
        db.conn.set_progress_handler(step, 1)
        await engine.start()
        db.conn.set_progress_handler(None, 1)
        db.conn.set_trace_callback(None)
        resumed = len(engine.runs)
        await engine.close()
        db.close()
        return Cost(statements[0], steps[0], resumed)

    return asyncio.run(scenario())


def _scan_steps(path: Path) -> int:
    """VM steps of one query that reads every execution: the counter sees rows."""
    conn = sqlite3.connect(path)
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    try:
        conn.set_progress_handler(step, 1)
        conn.execute("SELECT COUNT(*) FROM executions WHERE stop_date IS NOT NULL").fetchone()
        return steps[0]
    finally:
        conn.close()


def test_start_up_costs_the_running_executions_not_the_finished_ones(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _build(path)
    few = _start_cost(path)
    scan_few = _scan_steps(path)
    finished = _multiply_finished(path, COPIES)
    many = _start_cost(path)
    scan_many = _scan_steps(path)
    assert finished == 4 * (COPIES + 1)
    assert few.resumed == many.resumed == 3
    assert scan_many > 100 * scan_few  # the step counter does grow with the rows read
    assert many.statements == few.statements
    # A B-tree one level deeper may cost a step or two per lookup; a row of each
    # finished execution would cost thousands.
    assert many.steps <= few.steps + 100, (few, many)


def test_the_resumed_executions_carry_on(tmp_path: Path) -> None:
    """The cheap start-up still resumes every running execution where it stood."""
    path = tmp_path / "m.db"
    _build(path)
    _multiply_finished(path, 10)

    async def scenario() -> None:
        engine = Engine(Database(path), arns=ArnFactory())
        await engine.start()
        try:
            assert len(engine.runs) == 3
            for arn, run in engine.runs.items():
                assert "ExecutionStarted" in event_types(engine, arn)
                assert not run.done.is_set()
            activity = engine.list_activities()[0].arn
            claimed = await engine.get_activity_task(activity, "w", wait_seconds=10)
            assert claimed is not None
            await engine.send_task_success(claimed[0], '{"ok": 1}')
            task_arn = next(
                a for a, r in engine.runs.items() if r.row["state_machine_name"] == "task"
            )
            done = await engine.wait_for(task_arn, 30)
            assert (done.status, done.output) == ("SUCCEEDED", '{"ok":1}')
        finally:
            await engine.close()

    asyncio.run(scenario())
