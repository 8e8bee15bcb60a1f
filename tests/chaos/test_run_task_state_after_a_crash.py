"""An ``ecs:runTask.sync`` state across a killed server (SIGKILL), with real processes.

The state names its task by a token derived from its entry, so that the next server
finds the task the first run started. Parameters that evaluate anew each time
(``States.UUID()`` here) used to make that second run a ``ConflictException`` (the
same token with other parameters) and fail the execution; now the entry's first task
stands: the server had stopped it, so one new task runs, and the execution succeeds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from montemap.testing import MontemapServer, eventually, wait_for_execution

#: Appends its $V to $MARK, then sleeps the first time it runs and exits 0 every later time.
SLOW_ONCE = (
    "import os, sys, time\n"
    "mark = os.environ['MARK']\n"
    "first = not os.path.exists(mark)\n"
    "with open(mark, 'a') as f: f.write(os.environ['V'] + '\\n')\n"
    "if first: time.sleep(600)\n"
)


def _machine(mark: Path) -> dict[str, object]:
    environment = [
        {"Name": "MARK", "Value": str(mark)},
        {"Name": "V", "Value.$": "States.UUID()"},
    ]
    return {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::ecs:runTask.sync",
                "Parameters": {
                    "Cluster": "default",
                    "TaskDefinition": "slow-once",
                    "Overrides": {
                        "ContainerOverrides": [{"Name": "main", "Environment": environment}]
                    },
                },
                "End": True,
            }
        },
    }


def test_a_sync_state_with_fresh_values_survives_a_killed_server(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory(extra_args=["--no-cgroups", "--worker-stop-grace", "2"])
    mark = tmp_path / "mark"
    server.client("ecs").register_task_definition(
        family="slow-once",
        containerDefinitions=[
            {"name": "main", "image": "local", "command": [sys.executable, "-c", SLOW_ONCE]}
        ],
    )
    sfn = server.client()
    machine = sfn.create_state_machine(
        name="slow-once",
        definition=json.dumps(_machine(mark)),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    eventually(mark.exists, what="the first task to start", timeout=30)
    server.restart(crash=True)

    done = wait_for_execution(server.client(), execution, timeout=60)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    first, second = mark.read_text().split()  # one more task, run with fresh values
    assert first != second
    ecs = server.client("ecs")
    arns = ecs.list_tasks(desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"]
    assert sorted(t["stopCode"] for t in tasks) == [
        "EssentialContainerExited",
        "ServiceSchedulerInitiated",
    ]
    assert json.loads(done["output"])["TaskArn"] in {
        t["taskArn"] for t in tasks if t["stopCode"] == "EssentialContainerExited"
    }
