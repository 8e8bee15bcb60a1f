"""A response leaves only once what it reports is committed (checked at the ASGI send)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from montemap.api.app import create_app
from montemap.api.registry import Registry
from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.testing import call_json10
from tests.engine.helpers import machine


def durable_statuses(path: str) -> dict[str, str]:
    """Task statuses as a restarted process would find them."""
    other = sqlite3.connect(path)
    try:
        return dict(other.execute("SELECT token, status FROM activity_tasks"))
    finally:
        other.close()


async def call(app: Any, action: str, body: dict[str, Any], at_start: Any) -> Any:
    """One JSON 1.0 request; ``at_start()`` runs as the response starts to leave."""
    response = await call_json10(app, action, body, on_start=at_start)
    assert response.status == 200, response
    return response.body


def test_claims_and_results_are_durable_before_their_responses_leave(tmp_path: Path) -> None:
    path = str(tmp_path / "m.db")

    async def scenario() -> None:
        db = Database(path)
        engine = Engine(db, arns=ArnFactory())
        app = create_app(engine=engine, registry=Registry(db, arns=ArnFactory()))
        activity = engine.create_activity("work").arn
        definition = {
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        }
        await engine.start_execution(machine(definition), name="e", input="{}")
        seen: list[dict[str, str]] = []

        task = await call(
            app,
            "GetActivityTask",
            {"activityArn": activity},
            lambda: seen.append(durable_statuses(path)),
        )
        token = task["taskToken"]
        assert seen[-1][token] == "STARTED"
        await call(
            app,
            "SendTaskSuccess",
            {"taskToken": token, "output": "{}"},
            lambda: seen.append(durable_statuses(path)),
        )
        assert seen[-1][token] == "SUCCEEDED"
        await engine.close()
        db.close()

    asyncio.run(scenario())
