"""``montemap server`` stopped while its worker tasks hold activity tasks.

The tasks are stopped first, while the API still answers them: a worker finishes the
task in its hands and reports it, and the server exits as soon as its tasks have (not
after their 30 s stop grace, retrying against a server that is gone). A second stop
signal cuts the grace short.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from montemap.testing import eventually
from tests.conftest import MontemapServer

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/r"


def worker_service(url: str, sfn: Any, ecs: Any, handler: str, hold: float) -> tuple[str, str]:
    """A service of one worker task (of the server at ``url``) running ``handler``, and a
    machine whose one state is its activity; (machine ARN, activity ARN)."""
    activity = sfn.create_activity(name="held")["activityArn"]
    ecs.register_task_definition(
        family="holder",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "montemap",
                "command": [
                    sys.executable,
                    "-m",
                    "montemap.cli",
                    "worker",
                    "--endpoint",
                    url,
                    "--activity-arn",
                    activity,
                    "--handler",
                    f"tests.worker.worker_handlers:{handler}",
                ],
                "environment": [
                    {"name": "PYTHONPATH", "value": str(REPO)},
                    {"name": "WORKER_TEST_HOLD", "value": str(hold)},
                ],
            }
        ],
    )
    ecs.create_service(
        cluster="default", serviceName="holders", taskDefinition="holder", desiredCount=1
    )
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
    }
    machine = sfn.create_state_machine(
        name="held", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    return machine, activity


def started(sfn: Any, machine: str) -> str:
    """An execution of ``machine`` whose activity task a worker holds."""
    execution: str = sfn.start_execution(stateMachineArn=machine, input='{"value": 7}')[
        "executionArn"
    ]

    def held() -> bool:
        events = sfn.get_execution_history(executionArn=execution)["events"]
        return any(e["type"] == "ActivityStarted" for e in events)

    eventually(held, timeout=30, what="a worker task to take the activity task")
    return execution


def test_a_stopped_server_lets_its_workers_report_and_exits_promptly(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(extra_args=["--no-cgroups"])
    sfn = server.client()
    machine, _ = worker_service(server.url, sfn, server.client("ecs"), "hold", 1.0)
    execution = started(sfn, machine)
    began = time.monotonic()
    assert server.stop(timeout=15) == 0  # before: 30 s (the tasks' stop grace) and more
    assert time.monotonic() - began < 10, server.log_text()
    assert "ignored SIGTERM" not in server.log_text()
    server.start()
    described: dict[str, Any] = server.client().describe_execution(executionArn=execution)
    # The worker's result was taken before the server stopped: nothing to redo.
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["value"] == 7 and output["shutting_down"] is True


def test_a_second_stop_signal_kills_the_tasks_at_once(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(extra_args=["--no-cgroups"])
    sfn = server.client()
    machine, _ = worker_service(server.url, sfn, server.client("ecs"), "hold_stubbornly", 120.0)
    execution = started(sfn, machine)
    ecs = server.client("ecs")
    arns = ecs.list_tasks(cluster="default", serviceName="holders")["taskArns"]
    assert len(arns) == 1
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)

    def stopping() -> bool:  # the API answers while the tasks stop
        tasks = ecs.describe_tasks(cluster="default", tasks=arns)["tasks"]
        return [t["lastStatus"] for t in tasks] == ["STOPPING"]

    eventually(stopping, timeout=10, what="the worker task to be stopping")
    assert proc.poll() is None  # the stubborn handler holds it, within the 30 s grace
    began = time.monotonic()
    assert server.stop(sig=signal.SIGTERM, timeout=15) == 0
    assert time.monotonic() - began < 5, server.log_text()
    assert "tasks ignored SIGTERM on shutdown: killed them" in server.log_text()
    server.start()
    # The activity task stays STARTED, as after any stop: its timeout or heartbeat decides.
    described = server.client().describe_execution(executionArn=execution)
    assert described["status"] == "RUNNING"
