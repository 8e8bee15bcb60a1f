"""``EcsApi.handle_ecs``: the ECS actions, their shapes and their errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.service import ServiceManager
from montemap.errors import ApiError

from .test_service_support import SLEEPER, alive, container, open_manager, running

ARN = "arn:aws:ecs:us-east-1:123456789012"
Scenario = Callable[[EcsApi, ServiceManager], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            await scenario(EcsApi(manager), manager)

    asyncio.run(main())


async def refused(api: EcsApi, action: str, params: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await api.handle_ecs(action, params)
    return caught.value


SLEEPER_DEF = {"family": "sleeper", "containerDefinitions": [container(SLEEPER)]}


def test_clusters(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        made = await api.handle_ecs("CreateCluster", {"clusterName": "work"})
        assert made["cluster"]["clusterArn"] == f"{ARN}:cluster/work"
        assert made["cluster"]["status"] == "ACTIVE"
        again = await api.handle_ecs("CreateCluster", {"clusterName": "work"})
        assert again["cluster"]["clusterArn"] == made["cluster"]["clusterArn"]
        listed = await api.handle_ecs("ListClusters", {})
        assert listed["clusterArns"] == [f"{ARN}:cluster/default", f"{ARN}:cluster/work"]
        page = await api.handle_ecs("ListClusters", {"maxResults": 1})
        assert page["clusterArns"] == [f"{ARN}:cluster/default"]
        rest = await api.handle_ecs("ListClusters", {"nextToken": page["nextToken"]})
        assert rest == {"clusterArns": [f"{ARN}:cluster/work"]}
        described = await api.handle_ecs(
            "DescribeClusters", {"clusters": ["work", f"{ARN}:cluster/nope"]}
        )
        assert [c["clusterName"] for c in described["clusters"]] == ["work"]
        assert described["failures"] == [{"arn": f"{ARN}:cluster/nope", "reason": "MISSING"}]
        deleted = await api.handle_ecs("DeleteCluster", {"cluster": f"{ARN}:cluster/work"})
        assert deleted["cluster"]["status"] == "INACTIVE"
        error = await refused(api, "DescribeServices", {"cluster": "work", "services": ["x"]})
        assert (error.code, error.message) == ("ClusterNotFoundException", "Cluster not found.")
        error = await refused(api, "CreateCluster", {"clusterName": "bad name!"})
        assert error.code == "InvalidParameterException"
        error = await refused(api, "ListClusters", {"nextToken": "garbage"})
        assert error.code == "InvalidParameterException"

    run(tmp_path, scenario)


def test_task_definitions(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        small = await api.handle_ecs("DescribeTaskDefinition", {"taskDefinition": "small"})
        definition = small["taskDefinition"]
        assert definition["taskDefinitionArn"] == f"{ARN}:task-definition/small:1"
        assert (definition["cpu"], definition["memory"]) == ("256", "512")
        large = await api.handle_ecs("DescribeTaskDefinition", {"taskDefinition": "large:1"})
        assert (large["taskDefinition"]["cpu"], large["taskDefinition"]["memory"]) == (
            "512",
            "1024",
        )

        first = await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        second = await api.handle_ecs(
            "RegisterTaskDefinition", {**SLEEPER_DEF, "cpu": "0.5 vCPU", "memory": "1 GB"}
        )
        assert first["taskDefinition"]["revision"] == 1
        assert second["taskDefinition"]["revision"] == 2
        shape = second["taskDefinition"]
        assert shape["status"] == "ACTIVE"
        assert isinstance(shape["registeredAt"], datetime)
        assert shape["containerDefinitions"][0]["command"] == SLEEPER
        assert shape["containerDefinitions"][0]["essential"] is True

        latest = await api.handle_ecs("DescribeTaskDefinition", {"taskDefinition": "sleeper"})
        assert latest["taskDefinition"]["revision"] == 2
        listed = await api.handle_ecs("ListTaskDefinitions", {"familyPrefix": "sle"})
        assert listed["taskDefinitionArns"] == [
            f"{ARN}:task-definition/sleeper:1",
            f"{ARN}:task-definition/sleeper:2",
        ]
        newest_first = await api.handle_ecs(
            "ListTaskDefinitions", {"sort": "DESC", "familyPrefix": "sle", "maxResults": 1}
        )
        assert newest_first["taskDefinitionArns"] == [f"{ARN}:task-definition/sleeper:2"]
        everything = await api.handle_ecs("ListTaskDefinitions", {"sort": "DESC"})
        assert [a.rsplit("/", 1)[1] for a in everything["taskDefinitionArns"]] == [
            "small:1",
            "sleeper:2",
            "sleeper:1",
            "large:1",
        ]

        gone = await api.handle_ecs(
            "DeregisterTaskDefinition", {"taskDefinition": f"{ARN}:task-definition/sleeper:2"}
        )
        assert gone["taskDefinition"]["status"] == "INACTIVE"
        assert isinstance(gone["taskDefinition"]["deregisteredAt"], datetime)
        latest = await api.handle_ecs("DescribeTaskDefinition", {"taskDefinition": "sleeper"})
        assert latest["taskDefinition"]["revision"] == 1
        inactive = await api.handle_ecs("ListTaskDefinitions", {"status": "INACTIVE"})
        assert inactive["taskDefinitionArns"] == [f"{ARN}:task-definition/sleeper:2"]

        error = await refused(api, "DescribeTaskDefinition", {"taskDefinition": "nope"})
        assert (error.code, error.message) == (
            "ClientException",
            "Unable to describe task definition.",
        )
        error = await refused(api, "DeregisterTaskDefinition", {"taskDefinition": "sleeper"})
        assert (error.code, error.message) == ("ClientException", "Revision is missing.")
        error = await refused(
            api, "RegisterTaskDefinition", {"family": "x", "containerDefinitions": []}
        )
        assert error.code == "ClientException"
        no_command = {"family": "x", "containerDefinitions": [{"name": "c", "image": "i"}]}
        error = await refused(api, "RegisterTaskDefinition", no_command)
        assert error.code == "ClientException" and "command" in error.message
        two = {"family": "x", "containerDefinitions": [container(SLEEPER), container(SLEEPER)]}
        error = await refused(api, "RegisterTaskDefinition", two)
        assert "exactly one container" in error.message
        error = await refused(api, "RegisterTaskDefinition", {**SLEEPER_DEF, "cpu": "lots"})
        assert error.code == "ClientException" and "'lots'" in error.message
        error = await refused(api, "RegisterTaskDefinition", {"family": "x"})
        assert error.code == "InvalidParameterException"  # a required member is missing
        error = await refused(api, "RegisterTaskDefinition", {**SLEEPER_DEF, "family": 7})
        assert error.code == "SerializationException"

    run(tmp_path, scenario)


def test_service_lifecycle(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        created = await api.handle_ecs(
            "CreateService", {"serviceName": "svc", "taskDefinition": "sleeper", "desiredCount": 0}
        )
        service = created["service"]
        assert service["serviceArn"] == f"{ARN}:service/default/svc"
        assert service["taskDefinition"] == f"{ARN}:task-definition/sleeper:1"
        assert (service["desiredCount"], service["runningCount"], service["pendingCount"]) == (
            0,
            0,
            0,
        )
        assert [d["status"] for d in service["deployments"]] == ["PRIMARY"]

        error = await refused(
            api,
            "CreateService",
            {"serviceName": "svc", "taskDefinition": "sleeper", "desiredCount": 0},
        )
        assert (error.code, error.message) == (
            "InvalidParameterException",
            "Creation of service was not idempotent.",
        )

        updated = await api.handle_ecs(
            "UpdateService", {"service": f"{ARN}:service/default/svc", "desiredCount": 2}
        )
        assert updated["service"]["desiredCount"] == 2
        await manager.wait_until(running(manager, "svc", 2), 10)
        described = await api.handle_ecs("DescribeServices", {"services": ["svc", "ghost"]})
        (shape,) = described["services"]
        assert (shape["runningCount"], shape["pendingCount"]) == (2, 0)
        assert shape["deployments"][0]["runningCount"] == 2
        assert described["failures"] == [
            {"arn": f"{ARN}:service/default/ghost", "reason": "MISSING"}
        ]
        listed = await api.handle_ecs("ListServices", {})
        assert listed["serviceArns"] == [f"{ARN}:service/default/svc"]

        tasks = await api.handle_ecs("ListTasks", {"serviceName": "svc"})
        assert len(tasks["taskArns"]) == 2
        detail = await api.handle_ecs("DescribeTasks", {"tasks": tasks["taskArns"] + ["nope"]})
        assert len(detail["tasks"]) == 2 and detail["failures"][0]["reason"] == "MISSING"
        task = detail["tasks"][0]
        assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
        assert task["group"] == "service:svc"
        assert task["startedBy"] == shape["deployments"][0]["id"]
        pid = int(task["containers"][0]["runtimeId"])
        assert alive(pid)

        stopped = await api.handle_ecs(
            "StopTask", {"task": task["taskArn"].rsplit("/", 1)[1], "reason": "testing"}
        )
        assert stopped["task"]["desiredStatus"] == "STOPPED"
        assert stopped["task"]["stoppedReason"] == "testing"

        def replaced() -> bool:
            ids = {t.id for t in manager.store.tasks(cluster="default", service="svc", live=True)}
            return running(manager, "svc", 2)() and task["taskArn"].rsplit("/", 1)[1] not in ids

        await manager.wait_until(replaced, 10)
        after = await api.handle_ecs("DescribeTasks", {"tasks": [task["taskArn"]]})
        old = after["tasks"][0]
        assert old["lastStatus"] == "STOPPED" and old["stopCode"] == "UserInitiated"
        assert old["containers"][0]["exitCode"] == 143  # 128 + SIGTERM, as ECS reports it
        gone = await api.handle_ecs("ListTasks", {"serviceName": "svc", "desiredStatus": "STOPPED"})
        assert gone["taskArns"] == [task["taskArn"]]

        error = await refused(api, "DeleteService", {"service": "svc"})
        assert error.message == "The service cannot be stopped while it is scaled above 0."
        error = await refused(api, "DeleteCluster", {"cluster": "default"})
        assert error.code == "ClusterContainsServicesException"
        deleted = await api.handle_ecs("DeleteService", {"service": "svc", "force": True})
        assert deleted["service"]["status"] == "DRAINING"
        await manager.wait_until(
            lambda: (
                (s := manager.store.get_service("default", "svc")) is not None
                and s.status == "INACTIVE"
            ),
            10,
        )
        error = await refused(api, "UpdateService", {"service": "svc", "desiredCount": 1})
        assert (error.code, error.message) == (
            "ServiceNotActiveException",
            "Service was not ACTIVE.",
        )
        error = await refused(api, "UpdateService", {"service": "ghost", "desiredCount": 1})
        assert (error.code, error.message) == ("ServiceNotFoundException", "Service not found.")
        assert (await api.handle_ecs("ListServices", {}))["serviceArns"] == []
        # an INACTIVE service's name can be used again
        await api.handle_ecs(
            "CreateService", {"serviceName": "svc", "taskDefinition": "sleeper", "desiredCount": 0}
        )

    run(tmp_path, scenario)


def test_service_request_errors(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        error = await refused(
            api, "CreateService", {"serviceName": "s", "taskDefinition": "nope", "desiredCount": 1}
        )
        assert (error.code, error.message) == ("ClientException", "TaskDefinition not found.")
        error = await refused(
            api,
            "CreateService",
            {"cluster": "ghost", "serviceName": "s", "taskDefinition": "small", "desiredCount": 1},
        )
        assert error.code == "ClusterNotFoundException"
        error = await refused(api, "CreateService", {"serviceName": "s", "taskDefinition": "small"})
        assert error.code == "InvalidParameterException" and "desiredCount" in error.message
        error = await refused(
            api,
            "CreateService",
            {"serviceName": "s", "taskDefinition": "small", "desiredCount": -1},
        )
        assert error.code == "InvalidParameterException"
        error = await refused(api, "StopTask", {"task": "0123"})
        assert error.message == "The referenced task was not found."
        error = await refused(api, "DescribeTasks", {"tasks": []})
        assert error.message == "Tasks cannot be empty."
        error = await refused(api, "CreateTaskSet", {"service": "s", "taskDefinition": "small"})
        assert error.code == "UnknownOperationException" and "not supported" in error.message
        error = await refused(api, "Frobnicate", {})
        assert error.code == "UnknownOperationException"
        error = await refused(api, "UpdateService", {"service": "s", "desiredCount": "two"})
        assert error.code == "SerializationException"

    run(tmp_path, scenario)


def test_update_service_task_definition_rolls_out(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        await api.handle_ecs(
            "CreateService",
            {"serviceName": "svc", "taskDefinition": "sleeper:1", "desiredCount": 1},
        )
        await manager.wait_until(running(manager, "svc", 1), 10)
        await api.handle_ecs("RegisterTaskDefinition", {**SLEEPER_DEF, "cpu": "256"})
        updated = await api.handle_ecs(
            "UpdateService", {"service": "svc", "taskDefinition": "sleeper"}
        )
        deployments = updated["service"]["deployments"]
        assert [d["status"] for d in deployments] == ["PRIMARY", "ACTIVE"]
        assert deployments[0]["taskDefinition"].endswith("sleeper:2")
        assert deployments[0]["rolloutState"] == "IN_PROGRESS"

        def done() -> bool:
            tasks = manager.store.tasks(cluster="default", service="svc", live=True)
            return running(manager, "svc", 1)() and tasks[0].task_definition == "sleeper:2"

        await manager.wait_until(done, 10)
        await manager.wait_until(
            lambda: manager.store.deployments("default", "svc")[0].rollout_state == "COMPLETED", 5
        )
        final = await api.handle_ecs("DescribeServices", {"services": ["svc"]})
        (deployment,) = final["services"][0]["deployments"]
        assert deployment["rolloutState"] == "COMPLETED"
        task_arns = (await api.handle_ecs("ListTasks", {"family": "sleeper"}))["taskArns"]
        (task,) = (await api.handle_ecs("DescribeTasks", {"tasks": task_arns}))["tasks"]
        assert task["cpu"] == "256"
        await api.handle_ecs("UpdateService", {"service": "svc", "desiredCount": 0})
        await manager.wait_until(running(manager, "svc", 0), 10)

    run(tmp_path, scenario)


def test_describe_names_of_another_cluster_are_missing_failures(tmp_path: Path) -> None:
    """An ARN of another cluster is a ``MISSING`` failure, as any service or task the
    cluster does not have (the services_stable and tasks_stopped waiters read them)."""

    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("CreateCluster", {"clusterName": "other"})
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        await api.handle_ecs(
            "CreateService",
            {
                "cluster": "other",
                "serviceName": "svc",
                "taskDefinition": "sleeper",
                "desiredCount": 0,
            },
        )
        ran = await api.handle_ecs("RunTask", {"cluster": "other", "taskDefinition": "sleeper"})
        task_arn = ran["tasks"][0]["taskArn"]
        service_arn = f"{ARN}:service/other/svc"
        described = await api.handle_ecs("DescribeServices", {"services": [service_arn]})
        assert described == {
            "services": [],
            "failures": [{"arn": service_arn, "reason": "MISSING"}],
        }
        tasks = await api.handle_ecs("DescribeTasks", {"tasks": [task_arn]})
        assert tasks == {"tasks": [], "failures": [{"arn": task_arn, "reason": "MISSING"}]}
        mine = await api.handle_ecs("DescribeTasks", {"cluster": "other", "tasks": [task_arn]})
        assert [t["taskArn"] for t in mine["tasks"]] == [task_arn]
        await api.handle_ecs("StopTask", {"cluster": "other", "task": task_arn})

    run(tmp_path, scenario)


def test_list_task_definition_families(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        await api.handle_ecs("RegisterTaskDefinition", {**SLEEPER_DEF, "family": "sleepy"})
        await api.handle_ecs("DeregisterTaskDefinition", {"taskDefinition": "sleepy:1"})
        listed = await api.handle_ecs("ListTaskDefinitionFamilies", {})
        assert listed["families"] == ["large", "sleeper", "sleepy", "small"]
        active = await api.handle_ecs("ListTaskDefinitionFamilies", {"status": "ACTIVE"})
        assert active["families"] == ["large", "sleeper", "small"]
        inactive = await api.handle_ecs("ListTaskDefinitionFamilies", {"status": "INACTIVE"})
        assert inactive["families"] == ["sleepy"]
        prefixed = await api.handle_ecs("ListTaskDefinitionFamilies", {"familyPrefix": "slee"})
        assert prefixed["families"] == ["sleeper", "sleepy"]
        first = await api.handle_ecs("ListTaskDefinitionFamilies", {"maxResults": 2})
        assert first["families"] == ["large", "sleeper"]
        rest = await api.handle_ecs(
            "ListTaskDefinitionFamilies", {"maxResults": 2, "nextToken": first["nextToken"]}
        )
        assert rest["families"] == ["sleepy", "small"] and "nextToken" not in rest

    run(tmp_path, scenario)
