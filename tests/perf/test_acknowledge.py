"""A response leaves only once what it reports is committed (checked at the ASGI send)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from montemap.api.app import create_app
from montemap.api.registry import Registry
from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from tests.engine.helpers import machine

Message = dict[str, Any]


def durable_statuses(path: str) -> dict[str, str]:
    """Task statuses as a restarted process would find them."""
    other = sqlite3.connect(path)
    try:
        return dict(other.execute("SELECT token, status FROM activity_tasks"))
    finally:
        other.close()


async def call(app: Any, action: str, body: dict[str, Any], at_start: Any) -> Message:
    """One JSON 1.0 request; ``at_start()`` runs as the response starts to leave."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"x-amz-target", f"AWSStepFunctions.{action}".encode()),
            (b"content-type", b"application/x-amz-json-1.0"),
            (b"content-length", str(len(raw)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    disconnected = asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            at_start()
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    return json.loads(sent[1]["body"] or b"{}")  # type: ignore[no-any-return]


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
