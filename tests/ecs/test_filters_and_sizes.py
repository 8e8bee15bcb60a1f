"""ECS checks found by probing with boto3: container sizes against the task's, and
ListTasks' ``launchType`` filter."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import MontemapServer


@pytest.fixture(scope="module")
def ecs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = MontemapServer(tmp_path_factory.mktemp("t-ecs") / "data")
    server.start()
    client = server.client("ecs")
    yield client
    client.close()
    server.close()


def _container(**sizes: Any) -> dict[str, Any]:
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    return {"name": "main", "image": "none", "command": command, **sizes}


def _refused(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    error = excinfo.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


@pytest.mark.parametrize(
    ("task", "sizes", "words"),
    [
        ({}, {"memory": 128, "memoryReservation": 256}, "greater than or equal to"),
        ({"cpu": "256", "memory": "512"}, {"memory": 1024}, "exceeds the task's memory"),
        ({"cpu": "256", "memory": "512"}, {"memoryReservation": 1024}, "exceeds the task's"),
        ({"cpu": "256", "memory": "512"}, {"cpu": 512}, "exceeds the task's cpu"),
        ({"cpu": "64"}, {"memory": 64}, "Invalid 'cpu' setting for task."),
        ({"cpu": "256 vCPU"}, {"memory": 64}, "Invalid 'cpu' setting for task."),
        (
            {"requiresCompatibilities": ["EC2"]},
            {},
            "At least one of 'memory' or 'memoryReservation' must be specified.",
        ),
    ],
)
def test_container_sizes_are_held_to_the_tasks(
    ecs: Any, task: dict[str, Any], sizes: dict[str, Any], words: str
) -> None:
    code, message = _refused(
        ecs.register_task_definition,
        family="t-sizes",
        containerDefinitions=[_container(**sizes)],
        **task,
    )
    assert code == "ClientException"
    assert words in message
    with pytest.raises(ClientError):
        ecs.describe_task_definition(taskDefinition="t-sizes")  # nothing was registered


def test_container_sizes_that_fit_are_registered(ecs: Any) -> None:
    for task, sizes in (
        ({"cpu": "256", "memory": "512"}, {"memory": 512, "memoryReservation": 256, "cpu": 256}),
        ({"requiresCompatibilities": ["EC2"]}, {"memoryReservation": 64}),
        ({"requiresCompatibilities": ["EC2"], "memory": "512"}, {}),
        ({}, {}),  # no compatibility named: an unlimited local task, as docs/service.md says
    ):
        done = ecs.register_task_definition(
            family="t-fits", containerDefinitions=[_container(**sizes)], **task
        )
        assert done["taskDefinition"]["status"] == "ACTIVE"


def test_list_tasks_filters_by_launch_type(ecs: Any) -> None:
    ecs.register_task_definition(family="t-launch", containerDefinitions=[_container(memory=64)])
    on_ec2 = ecs.run_task(taskDefinition="t-launch", launchType="EC2")["tasks"][0]["taskArn"]
    default = ecs.run_task(taskDefinition="t-launch")["tasks"][0]["taskArn"]
    try:
        assert ecs.list_tasks(launchType="EC2")["taskArns"] == [on_ec2]
        assert ecs.list_tasks(launchType="FARGATE")["taskArns"] == [default]
        assert sorted(ecs.list_tasks()["taskArns"]) == sorted([on_ec2, default])
    finally:
        for arn in (on_ec2, default):
            ecs.stop_task(task=arn)


def test_list_services_filters_by_launch_type_and_strategy(ecs: Any) -> None:
    ecs.register_task_definition(family="t-svc", containerDefinitions=[_container(memory=64)])
    made = {
        kind: ecs.create_service(
            serviceName=f"t-{kind.lower()}",
            taskDefinition="t-svc",
            desiredCount=0,
            launchType=kind,
        )["service"]["serviceArn"]
        for kind in ("EC2", "FARGATE")
    }
    assert ecs.list_services(launchType="EC2")["serviceArns"] == [made["EC2"]]
    assert ecs.list_services(launchType="FARGATE")["serviceArns"] == [made["FARGATE"]]
    assert ecs.list_services(schedulingStrategy="DAEMON")["serviceArns"] == []
    assert sorted(ecs.list_services()["serviceArns"]) == sorted(made.values())
