"""While a server stops its worker tasks (its API still answering them), it starts no new
ones: RunTask and a scale-out are refused with ECS's ``ServerException`` and a message
saying why, where they were answered PROVISIONING before and then marked STOPPED by the
next server. A new service with tasks is refused too; a scale-in is still taken (the next
server starts the desired count)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer, eventually, wait_for_execution

pytestmark = pytest.mark.timeout(60)

ROLE = "arn:aws:iam::123456789012:role/r"
#: A task that ignores SIGTERM: it keeps the server in its stop grace until a second signal.
#: It says so in the file its argument names once the signal is ignored (on a loaded
#: machine a SIGTERM sent before that would end it, and the server's stop with it).
STUBBORN = (
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pathlib.Path(sys.argv[1]).write_text('ready'); time.sleep(120)"
)


def _stopping_server(server: MontemapServer, ready: Path) -> Any:
    """``server`` told to stop while its one service task ignores SIGTERM (the task writes
    ``ready`` once it does); its ECS client."""
    ecs = server.client("ecs")
    ecs.register_task_definition(
        family="stubborn",
        containerDefinitions=[
            {
                "name": "main",
                "image": "montemap",
                "command": [sys.executable, "-c", STUBBORN, str(ready)],
            }
        ],
    )
    ecs.create_service(
        cluster="default", serviceName="stubborn", taskDefinition="stubborn", desiredCount=1
    )
    arns: list[str] = []

    def task_status(wanted: str) -> Callable[[], bool]:
        def check() -> bool:
            if not arns:  # listed while it runs (a stopping task is not desired RUNNING)
                arns[:] = ecs.list_tasks(cluster="default", serviceName="stubborn")["taskArns"]
            tasks = ecs.describe_tasks(cluster="default", tasks=arns)["tasks"] if arns else []
            return [t["lastStatus"] for t in tasks] == [wanted]

        return check

    eventually(task_status("RUNNING"), timeout=20, what="the service's task to run")
    eventually(ready.exists, timeout=20, what="the task to ignore SIGTERM")
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    eventually(task_status("STOPPING"), timeout=20, what="the task to be stopping")
    return ecs


def test_run_task_and_scale_out_are_refused_while_the_server_stops_its_tasks(
    server_factory: Callable[..., MontemapServer],
    tmp_path: Path,
) -> None:
    server = server_factory(extra_args=["--no-cgroups"])
    ecs = _stopping_server(server, tmp_path / "ready")
    with pytest.raises(ClientError) as refused:
        ecs.run_task(cluster="default", taskDefinition="stubborn")
    error = refused.value.response["Error"]
    assert error["Code"] == "ServerException"
    assert "shutting down" in error["Message"] and "RunTask" in error["Message"]
    with pytest.raises(ClientError) as refused:
        ecs.update_service(cluster="default", service="stubborn", desiredCount=3)
    assert refused.value.response["Error"]["Code"] == "ServerException"
    with pytest.raises(ClientError) as refused:
        ecs.create_service(
            cluster="default", serviceName="late", taskDefinition="stubborn", desiredCount=1
        )
    assert refused.value.response["Error"]["Code"] == "ServerException"
    # A scale-in (or an unchanged count) is taken.
    ecs.update_service(cluster="default", service="stubborn", desiredCount=1)
    ecs.update_service(cluster="default", service="stubborn", desiredCount=0)
    assert server.stop(sig=signal.SIGTERM, timeout=15) == 0  # the second signal: kill now
    server.start()
    ecs = server.client("ecs")
    tasks = ecs.list_tasks(cluster="default", desiredStatus="STOPPED")["taskArns"]
    assert len(tasks) == 1  # the service's task only: no RunTask task was recorded
    service = ecs.describe_services(cluster="default", services=["stubborn"])["services"][0]
    assert service["desiredCount"] == 0


def test_a_workflow_scaling_out_while_the_server_stops_goes_on_after_the_restart(
    server_factory: Callable[..., MontemapServer],
    tmp_path: Path,
) -> None:
    server = server_factory(extra_args=["--no-cgroups"])
    sfn = server.client()
    server.client("ecs").create_service(
        cluster="default", serviceName="later", taskDefinition="small", desiredCount=0
    )
    definition = {
        "StartAt": "Scale Out",
        "States": {
            "Scale Out": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ecs:updateService",
                "Parameters": {"Cluster": "default", "Service": "later", "DesiredCount": 1},
                "ResultSelector": {"desired.$": "$.Service.DesiredCount"},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="scale", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    _stopping_server(server, tmp_path / "ready")
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]

    def scheduled() -> bool:
        events = sfn.get_execution_history(executionArn=execution)["events"]
        return any(e["type"] == "TaskScheduled" for e in events)

    eventually(scheduled, timeout=20, what="the scale-out to be called")
    # The call waits for the server's end (before: it failed the execution, or was taken
    # and the tasks started only by the next server without the workflow knowing).
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert server.stop(sig=signal.SIGTERM, timeout=15) == 0
    server.start()
    described = wait_for_execution(server.client(), execution, timeout=40)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"desired": 1}
    server.kill()  # its restarted stubborn task would hold a stop for its whole grace
