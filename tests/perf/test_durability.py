"""What a crash (SIGKILL) can lose, and long polls whose clients leave, on a real server.

Every response is sent only after what it reports is committed, so after a
SIGKILL a restarted server knows of every claim and result it acknowledged.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import MontemapServer

ROLE = "arn:aws:iam::123456789012:role/test"


def fan_out(activity: str) -> str:
    return json.dumps(
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Work",
                        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
                    },
                    "End": True,
                }
            },
        }
    )


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def history(client: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get_execution_history(executionArn=arn, maxResults=1000)[
        "events"
    ]
    return events


def test_sigkill_loses_nothing_that_was_acknowledged(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory()
    client = server.client()
    activity = client.create_activity(name="durable")["activityArn"]
    sm = client.create_state_machine(name="fan", definition=fan_out(activity), roleArn=ROLE)
    items = list(range(12))
    arn = client.start_execution(stateMachineArn=sm["stateMachineArn"], input=json.dumps(items))[
        "executionArn"
    ]
    done: dict[str, str] = {}
    for _ in range(8):
        task = client.get_activity_task(activityArn=activity, workerName="before")
        client.send_task_success(taskToken=task["taskToken"], output=task["input"])
        done[task["taskToken"]] = task["input"]
    held = client.get_activity_task(activityArn=activity, workerName="holder")
    server.kill()  # right after the last acknowledged response

    server.start()
    client = server.client()
    for token in done:  # every acknowledged result was kept: the tasks are closed
        with pytest.raises(ClientError) as refused:
            client.send_task_success(taskToken=token, output="0")
        assert refused.value.response["Error"]["Code"] == "TaskTimedOut"
    # The acknowledged claim was kept: the held token is still valid, not handed out again.
    client.send_task_success(taskToken=held["taskToken"], output=held["input"])
    while client.describe_execution(executionArn=arn)["status"] == "RUNNING":
        task = client.get_activity_task(activityArn=activity, workerName="after")
        if "taskToken" in task:
            assert task["taskToken"] not in done and task["taskToken"] != held["taskToken"]
            client.send_task_success(taskToken=task["taskToken"], output=task["input"])
    described = client.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == items
    events = history(client, arn)
    types = [e["type"] for e in events]
    assert types.count("ActivityScheduled") == len(items)  # nothing was redone
    assert types.count("ActivitySucceeded") == len(items)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))


def raw_poll(port: int, activity: str, worker: str) -> socket.socket:
    """Send a GetActivityTask and return the socket without reading the answer."""
    body = json.dumps({"activityArn": activity, "workerName": worker}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"X-Amz-Target: AWSStepFunctions.GetActivityTask\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def test_a_poll_whose_client_left_never_claims_a_task(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory()
    client = server.client()
    activity = client.create_activity(name="leaver")["activityArn"]
    sm = client.create_state_machine(name="one", definition=fan_out(activity), roleArn=ROLE)
    gone = raw_poll(server.port, activity, "gone")
    time.sleep(0.2)  # let the server start waiting on this poll
    gone.close()  # the worker died while polling
    live = raw_poll(server.port, activity, "live")
    arn = client.start_execution(stateMachineArn=sm["stateMachineArn"], input='["only"]')[
        "executionArn"
    ]
    answer = b""
    while b"taskToken" not in answer or not answer.endswith(b"}"):
        chunk = live.recv(65536)
        assert chunk, "the live poll was closed without a task"
        answer += chunk
    live.close()
    started = [e for e in history(client, arn) if e["type"] == "ActivityStarted"]
    assert [e["activityStartedEventDetails"]["workerName"] for e in started] == ["live"]
