"""A failed statement affects only its own request; what was acknowledged is durable.

Issue 11, finding 2: one bad value (a lone surrogate) made the shared group
COMMIT fail, answering 500 to unrelated requests, stranding executions RUNNING
and losing an acknowledged SendTaskSuccess.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from montemap.api.app import create_app
from montemap.api.registry import Registry
from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.history import Event
from montemap.testing import MontemapServer, call_json10, eventually
from tests.engine.helpers import machine

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
GOOD = 200


async def call(app: Any, action: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One JSON 1.0 request through the ASGI app: (status, decoded body)."""
    response = await call_json10(app, action, body)
    return response.status, response.body


def durable(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows as a restarted process would read them (another connection)."""
    other = sqlite3.connect(path)
    try:
        return list(other.execute(sql, params))
    finally:
        other.close()


def test_poisoned_statements_fail_alone_among_200_good_requests(tmp_path: Path) -> None:
    path = tmp_path / "m.db"

    async def scenario() -> None:
        db = Database(path)
        engine = Engine(db, arns=ArnFactory())
        app = create_app(engine=engine, registry=Registry(db, arns=ArnFactory()))
        activity = engine.create_activity("work").arn
        task_machine = machine(
            {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": activity, "End": True}}},
            name="tasks",
        )
        poisoned = await engine.start_execution(task_machine, name="poisoned", input="{}")
        victim = await engine.start_execution(machine(PASS, "other"), name="victim", input="{}")
        await engine.wait_for(victim.execution_arn, timeout=30)
        task = await engine.get_activity_task(activity, None, wait_seconds=30)
        assert task is not None
        token = task[0]
        status, created = await call(
            app,
            "CreateStateMachine",
            {
                "name": "good",
                "definition": json.dumps(PASS),
                "roleArn": "arn:aws:iam::123456789012:role/r",
            },
        )
        assert status == 200, created
        good_arn = created["stateMachineArn"]

        async def bad_statement() -> str:
            try:
                db.statement("UPDATE executions SET cause = ? WHERE name = 'victim'", ("\ud800",))
            except UnicodeEncodeError as exc:
                return type(exc).__name__
            return "accepted"

        async def bad_buffered_row() -> None:
            # An event id that already exists: refused by SQLite only at the COMMIT.
            engine.store.commit(
                victim.execution_arn, first_event_id=1, events=[(Event("Bad"), 0, _now())]
            )

        async def start(i: int) -> tuple[int, Any]:
            return await call(
                app,
                "StartExecution",
                {"stateMachineArn": good_arn, "name": f"g{i}", "input": '{"i": 1}'},
            )

        results = await asyncio.gather(
            *(start(i) for i in range(GOOD // 2)),
            bad_statement(),
            engine.send_task_success(token, '{"x": "\\ud800"}'),
            bad_buffered_row(),
            *(start(i) for i in range(GOOD // 2, GOOD)),
        )
        statuses = [r[0] for r in results if isinstance(r, tuple)]
        assert statuses == [200] * GOOD, [r for r in results if isinstance(r, tuple)][:3]
        assert "UnicodeEncodeError" in results
        for i in range(GOOD):
            ended_ok = await engine.wait_for(ArnFactory().execution("good", f"g{i}"), timeout=30)
            assert ended_ok.status == "SUCCEEDED"
        ended = await engine.wait_for(poisoned.execution_arn, timeout=30)
        assert ended.status == "FAILED"
        assert ended.error == "States.Runtime"
        assert "not valid Unicode" in (ended.cause or "")
        await engine.close()
        db.close()

    asyncio.run(scenario())
    rows = durable(path, "SELECT status, COUNT(*) FROM executions WHERE name LIKE 'g%' GROUP BY 1")
    assert rows == [("SUCCEEDED", GOOD)]
    assert durable(path, "SELECT status, error FROM executions WHERE name = 'poisoned'") == [
        ("FAILED", "States.Runtime")
    ]
    # The victim's good history is intact: the refused row was dropped alone.
    types = durable(
        path,
        "SELECT type FROM events WHERE execution_arn LIKE '%:victim' ORDER BY id",
    )
    assert types[0] == ("ExecutionStarted",) and ("Bad",) not in types


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.mark.timeout(120)
def test_acknowledged_task_success_survives_sigkill_beside_a_poisoned_one(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory()
    sfn = server.client()
    activity = sfn.create_activity(name="work")["activityArn"]
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Task", "Resource": activity, "End": True}},
    }
    role = "arn:aws:iam::123456789012:role/r"
    sm = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=role)
    arns = [
        sfn.start_execution(stateMachineArn=sm["stateMachineArn"], name=n)["executionArn"]
        for n in ("good", "bad")
    ]
    tokens = [sfn.get_activity_task(activityArn=activity)["taskToken"] for _ in arns]
    bad = server.client()
    try:
        # A lone surrogate, escaped: valid JSON. Refused at the edge (400) or, past it,
        # by the engine for that execution only; never a lost neighbour.
        bad.send_task_success(taskToken=tokens[1], output='{"x": "\\ud800"}')
    except bad.exceptions.ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    sfn.send_task_success(taskToken=tokens[0], output='{"done": true}')  # acknowledged: 200
    server.kill()
    server.start()
    sfn2 = server.client()

    def ended() -> bool:
        status: str = sfn2.describe_execution(executionArn=arns[0])["status"]
        return status != "RUNNING"

    eventually(ended, timeout=60, what="the acknowledged execution to end")
    described = sfn2.describe_execution(executionArn=arns[0])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"done": True}
    bad_status = sfn2.describe_execution(executionArn=arns[1])["status"]
    assert bad_status in ("RUNNING", "FAILED")  # refused at the edge: still waiting
    for client in (sfn, sfn2, bad):
        client.close()
