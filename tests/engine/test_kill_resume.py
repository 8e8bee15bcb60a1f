"""Kill the server process (SIGKILL) mid-execution; a restarted server finishes the work."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from montemap.testing import MontemapServer, eventually, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"


def history_types(client: Any, arn: str) -> list[str]:
    events = client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["type"] for e in events]


def test_sigkill_during_wait_and_activity_resumes_without_redoing_steps(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory()
    client = server.client()
    activity = client.create_activity(name="resume-work")["activityArn"]
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": 1, "ResultPath": "$.prepared", "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Work"},
            "Work": {
                "Type": "Task",
                "Resource": activity,
                "ResultPath": "$.work",
                "Next": "Finish",
            },
            "Finish": {"Type": "Pass", "End": True},
        },
    }
    sm = client.create_state_machine(name="resume", definition=json.dumps(definition), roleArn=ROLE)
    arn = client.start_execution(stateMachineArn=sm["stateMachineArn"], input='{"id": 7}')[
        "executionArn"
    ]
    eventually(
        lambda: "WaitStateEntered" in history_types(client, arn),
        timeout=20,
        what="the Wait state entered",
    )

    server.kill()  # SIGKILL in the middle of the Wait
    server.start()
    client = server.client()
    task = client.get_activity_task(activityArn=activity, workerName="w1")
    assert json.loads(task["input"]) == {"id": 7, "prepared": 1}
    token = task["taskToken"]

    server.kill()  # SIGKILL while the worker holds the task
    server.start()
    client = server.client()
    client.send_task_success(taskToken=token, output='{"ok": true}')  # the token survived
    described = wait_for_execution(client, arn, timeout=20)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"id": 7, "prepared": 1, "work": {"ok": True}}
    types = history_types(client, arn)
    assert types.count("PassStateEntered") == 2  # Prepare once, Finish once
    assert types.count("WaitStateEntered") == 1
    assert types.count("ActivityScheduled") == 1
    ids = [
        e["id"] for e in client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    ]
    assert ids == list(range(1, len(ids) + 1))
