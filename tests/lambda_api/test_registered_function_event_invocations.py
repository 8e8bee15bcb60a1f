"""A state machine's ``lambda:invoke`` with ``InvocationType: Event`` on a function of
the server's own configuration (a ``--functions`` file) goes through the Lambda API's
durable queue, as created functions do: a function error is kept for its retry (a
minute later) in the database, not lost with an in-memory task."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

from montemap.testing import MontemapServer, eventually, wait_for_execution

ROLE_ARN = "arn:aws:iam::123456789012:role/test"
FUNCTION = """
def fail(event, context):
    open(event["mark"], "a").write("x")
    raise ValueError("no")
"""


def test_an_event_task_on_a_registered_function_is_queued_durably(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    (tmp_path / "fn_event.py").write_text(FUNCTION)
    (tmp_path / "functions.json").write_text(json.dumps({"FailLater": "fn_event:fail"}))
    server = server_factory(
        extra_args=["--no-cgroups", "--functions", str(tmp_path / "functions.json")],
        env={"PYTHONPATH": str(tmp_path)},
    )
    mark = tmp_path / "mark"
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "FailLater",
            "InvocationType": "Event",
            "Payload": {"mark": str(mark)},
        },
        "End": True,
    }
    client = server.client()
    try:
        arn = client.create_state_machine(
            name=f"t-{uuid.uuid4().hex[:12]}",
            definition=json.dumps({"StartAt": "S", "States": {"S": state}}),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]
        started = client.start_execution(stateMachineArn=arn, input="{}")
        done = wait_for_execution(client, started["executionArn"])
    finally:
        client.close()
    assert done["status"] == "SUCCEEDED", done
    reader = sqlite3.connect(server.data_dir / "montemap.db")
    try:

        def retry_waiting() -> float | None:
            row = reader.execute(
                "SELECT attempts, due - enqueued FROM lambda_async_queue WHERE name = 'FailLater'"
            ).fetchone()
            return None if row is None or row[0] != 1 else float(row[1])

        wait = eventually(retry_waiting, timeout=30, what="the first attempt failed")
    finally:
        reader.close()
    assert mark.read_text() == "x"
    assert 60 <= wait < 90
