"""RunTask: standalone tasks (no service) from a task definition, with overrides, as ECS runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.service import ServiceManager

from .test_ecs_api import ARN, SLEEPER_DEF, refused, run
from .test_service_support import PY, alive, container

#: Writes what it ran with (argv and two variables) to $OUT, then exits with $CODE.
REPORTER = [
    PY,
    "-c",
    "import json, os, sys; json.dump({'argv': sys.argv[1:], 'greeting': os.environ.get("
    "'GREETING'), 'base': os.environ.get('BASE')}, open(os.environ['OUT'], 'w'));"
    " sys.exit(int(os.environ.get('CODE', '0')))",
]


def reporter_def(out: Path) -> dict[str, Any]:
    environment = [{"name": "OUT", "value": str(out)}, {"name": "BASE", "value": "from-def"}]
    return {
        "family": "runner",
        "containerDefinitions": [container(REPORTER, environment=environment)],
    }


def stopped(manager: ServiceManager, arns: list[str]) -> Any:
    ids = [arn.rsplit("/", 1)[1] for arn in arns]

    def check() -> bool:
        tasks = [manager.store.get_task(i) for i in ids]
        return all(t is not None and t.last_status == "STOPPED" for t in tasks)

    return check


def test_run_task_runs_once_with_overrides_and_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out.json"

    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", reporter_def(out))
        # The command override replaces the container's command (the reporter, with
        # arguments); the environment override adds to the definition's.
        overrides: dict[str, Any] = {
            "containerOverrides": [
                {
                    "name": "main",
                    "command": [*REPORTER, "overridden", "args"],
                    "environment": [
                        {"name": "GREETING", "value": "hello"},
                        {"name": "CODE", "value": "7"},
                    ],
                }
            ]
        }
        answer = await api.handle_ecs(
            "RunTask",
            {"taskDefinition": "runner", "overrides": overrides, "startedBy": "tester"},
        )
        assert answer["failures"] == []
        (task,) = answer["tasks"]
        assert task["taskDefinitionArn"] == f"{ARN}:task-definition/runner:1"
        assert task["clusterArn"] == f"{ARN}:cluster/default"
        assert task["desiredStatus"] == "RUNNING"
        assert task["lastStatus"] in ("PROVISIONING", "PENDING", "RUNNING")
        assert task["group"] == "family:runner"
        assert task["startedBy"] == "tester"
        assert task["overrides"]["containerOverrides"] == overrides["containerOverrides"]

        await manager.wait_until(stopped(manager, [task["taskArn"]]), 20)
        (done,) = (await api.handle_ecs("DescribeTasks", {"tasks": [task["taskArn"]]}))["tasks"]
        assert (done["lastStatus"], done["desiredStatus"]) == ("STOPPED", "STOPPED")
        assert done["stopCode"] == "EssentialContainerExited"
        assert done["containers"][0]["exitCode"] == 7
        assert done["overrides"]["containerOverrides"] == overrides["containerOverrides"]
        ran = json.loads(out.read_text())
        assert ran == {"argv": ["overridden", "args"], "greeting": "hello", "base": "from-def"}

        # A standalone task is not replaced when it ends.
        listed = await api.handle_ecs("ListTasks", {"startedBy": "tester"})
        assert listed["taskArns"] == []
        listed = await api.handle_ecs(
            "ListTasks", {"startedBy": "tester", "desiredStatus": "STOPPED"}
        )
        assert listed["taskArns"] == [task["taskArn"]]
        assert (await api.handle_ecs("ListTasks", {"family": "runner"}))["taskArns"] == []

    run(tmp_path, scenario)


def test_run_task_count_and_stop_task(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        answer = await api.handle_ecs("RunTask", {"taskDefinition": "sleeper:1", "count": 3})
        arns = [t["taskArn"] for t in answer["tasks"]]
        assert len(set(arns)) == 3

        def all_running() -> bool:
            tasks = [manager.store.get_task(a.rsplit("/", 1)[1]) for a in arns]
            return all(t is not None and t.last_status == "RUNNING" for t in tasks)

        await manager.wait_until(all_running, 20)
        running = await api.handle_ecs("ListTasks", {"family": "sleeper"})
        assert sorted(running["taskArns"]) == sorted(arns)
        described = await api.handle_ecs("DescribeTasks", {"tasks": arns})
        pids = [int(t["containers"][0]["runtimeId"]) for t in described["tasks"]]
        assert all(alive(pid) for pid in pids)

        first = arns[0]
        stop = await api.handle_ecs("StopTask", {"task": first, "reason": "enough"})
        assert stop["task"]["desiredStatus"] == "STOPPED"
        await manager.wait_until(stopped(manager, [first]), 20)
        (gone,) = (await api.handle_ecs("DescribeTasks", {"tasks": [first]}))["tasks"]
        assert (gone["stopCode"], gone["stoppedReason"]) == ("UserInitiated", "enough")
        left = await api.handle_ecs("ListTasks", {"family": "sleeper"})
        assert sorted(left["taskArns"]) == sorted(arns[1:])  # nothing replaced it
        for arn in arns[1:]:
            await api.handle_ecs("StopTask", {"task": arn})
        await manager.wait_until(stopped(manager, arns), 20)
        assert not any(alive(pid) for pid in pids)

    run(tmp_path, scenario)


def test_run_task_refusals(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        error = await refused(api, "RunTask", {"taskDefinition": "nope"})
        assert (error.code, error.message) == ("ClientException", "TaskDefinition not found.")
        for count in (0, 11):
            error = await refused(api, "RunTask", {"taskDefinition": "sleeper", "count": count})
            assert error.code == "InvalidParameterException"
        error = await refused(
            api,
            "RunTask",
            {"taskDefinition": "sleeper", "overrides": {"containerOverrides": [{"name": "other"}]}},
        )
        assert error.code == "InvalidParameterException" and "other" in error.message
        nameless = {"containerOverrides": [{"name": "main", "environment": [{"value": "x"}]}]}
        error = await refused(api, "RunTask", {"taskDefinition": "sleeper", "overrides": nameless})
        assert error.code == "InvalidParameterException" and "no name" in error.message
        error = await refused(api, "RunTask", {"taskDefinition": "sleeper", "cluster": "ghost"})
        assert error.code == "ClusterNotFoundException"
        await api.handle_ecs("DeregisterTaskDefinition", {"taskDefinition": "sleeper:1"})
        error = await refused(api, "RunTask", {"taskDefinition": "sleeper:1"})
        assert error.code == "ClientException" and "inactive" in error.message
        assert manager.store.tasks() == []  # nothing was created

    run(tmp_path, scenario)


def test_run_task_group_launch_type_and_tags(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        answer = await api.handle_ecs(
            "RunTask",
            {
                "taskDefinition": "sleeper",
                "group": "batch:nightly",
                "launchType": "EC2",
                "tags": [{"key": "job", "value": "42"}],
            },
        )
        (task,) = answer["tasks"]
        arn = task["taskArn"]
        assert (task["group"], task["launchType"]) == ("batch:nightly", "EC2")
        assert "tags" not in task
        described = await api.handle_ecs("DescribeTasks", {"tasks": [arn], "include": ["TAGS"]})
        assert described["tasks"][0]["tags"] == [{"key": "job", "value": "42"}]
        listed = await api.handle_ecs("ListTagsForResource", {"resourceArn": arn})
        assert listed["tags"] == [{"key": "job", "value": "42"}]
        await api.handle_ecs(
            "TagResource", {"resourceArn": arn, "tags": [{"key": "more", "value": "x"}]}
        )
        await api.handle_ecs("UntagResource", {"resourceArn": arn, "tagKeys": ["job"]})
        listed = await api.handle_ecs("ListTagsForResource", {"resourceArn": arn})
        assert listed["tags"] == [{"key": "more", "value": "x"}]
        await api.handle_ecs("StopTask", {"task": arn})
        error = await refused(
            api, "ListTagsForResource", {"resourceArn": f"{ARN}:task/default/{'0' * 32}"}
        )
        assert error.code == "InvalidParameterException"

    run(tmp_path, scenario)
