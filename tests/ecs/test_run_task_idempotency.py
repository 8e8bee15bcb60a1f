"""RunTask's ``clientToken``: a repeated request starts its tasks once, also across a
restart; a state machine's ``ecs:runTask`` state run again after a restart finds the task
its first run started, and starts another only when the server stopped that one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.ecs_integration import RUN_TASK_PREFIX, EcsRunTaskIntegration
from montemap.ecs.run_tokens import TOKEN_TTL_S
from montemap.ecs.service import RESTARTED_REASON, SHUTDOWN_REASON, ServiceManager
from montemap.engine.engine import Engine
from montemap.errors import StatesError

from .test_ecs_api import SLEEPER_DEF, refused, run
from .test_ecs_integration import _machine
from .test_service_support import PY, container, open_manager, wait_for

#: Sleeps the first time it runs (leaving $MARK), exits 0 at once every later time.
ONCE_SLOW = [
    PY,
    "-c",
    "import os, sys, time\n"
    "mark = os.environ['MARK']\n"
    "if os.path.exists(mark): sys.exit(0)\n"
    "open(mark, 'w').close(); time.sleep(600)",
]
QUICK = [PY, "-c", "pass"]


def _ids(response: dict[str, Any]) -> list[str]:
    return [t["taskArn"] for t in response["tasks"]]


def test_the_same_token_answers_the_original_request(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        request = {"taskDefinition": "sleeper", "count": 2, "clientToken": "token-1"}
        first = await api.handle_ecs("RunTask", request)
        again = await api.handle_ecs("RunTask", dict(request))
        assert again == first
        assert len(manager.store.tasks()) == 2
        # the same token in another cluster is another request
        await api.handle_ecs("CreateCluster", {"clusterName": "other"})
        other = await api.handle_ecs("RunTask", {**request, "cluster": "other"})
        assert set(_ids(other)).isdisjoint(_ids(first))
        # without a token every call starts tasks
        await api.handle_ecs("RunTask", {"taskDefinition": "sleeper"})
        await api.handle_ecs("RunTask", {"taskDefinition": "sleeper"})
        assert len(manager.store.tasks()) == 6

    run(tmp_path, scenario)


def test_a_token_with_other_parameters_or_malformed_is_refused(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        await api.handle_ecs("RunTask", {"taskDefinition": "sleeper", "clientToken": "t"})
        conflict = await refused(
            api, "RunTask", {"taskDefinition": "sleeper", "count": 2, "clientToken": "t"}
        )
        assert conflict.code == "ConflictException"
        assert "'t'" in conflict.message
        for bad in ("x" * 65, "has space", "caf\u00e9"):
            error = await refused(api, "RunTask", {"taskDefinition": "sleeper", "clientToken": bad})
            assert error.code == "InvalidParameterException", bad
            assert "clientToken" in error.message
        assert len(manager.store.tasks()) == 1

    run(tmp_path, scenario)


def test_a_token_is_kept_for_a_day(tmp_path: Path) -> None:
    clock = [1_000_000.0]

    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        api.run_tokens.now = lambda: clock[0]
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        request = {"taskDefinition": "sleeper", "clientToken": "daily"}
        first = await api.handle_ecs("RunTask", request)
        clock[0] += TOKEN_TTL_S - 1
        assert await api.handle_ecs("RunTask", request) == first
        clock[0] += 2
        later = await api.handle_ecs("RunTask", request)
        assert _ids(later) != _ids(first)
        assert len(manager.store.tasks()) == 2

    run(tmp_path, scenario)


def test_a_token_outlives_the_server(tmp_path: Path) -> None:
    async def main() -> None:
        request = {"taskDefinition": "sleeper", "clientToken": "across-restarts"}
        async with open_manager(tmp_path / "m.db") as manager:
            api = EcsApi(manager)
            await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
            first = await api.handle_ecs("RunTask", request)
        async with open_manager(tmp_path / "m.db") as manager:
            again = await EcsApi(manager).handle_ecs("RunTask", request)
            assert _ids(again) == _ids(first)
            assert len(manager.store.tasks()) == 1

    asyncio.run(main())


def _parameters(family: str, mark: Path | None = None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"Cluster": "default", "TaskDefinition": family}
    if mark is not None:
        parameters["Overrides"] = {
            "ContainerOverrides": [
                {"Name": "main", "Environment": [{"Name": "MARK", "Value": str(mark)}]}
            ]
        }
    return parameters


def test_a_state_entry_run_again_gets_its_finished_task(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs(
            "RegisterTaskDefinition",
            {"family": "quick", "containerDefinitions": [container(QUICK)]},
        )
        integration = EcsRunTaskIntegration(api)
        resource = f"{RUN_TASK_PREFIX}.sync"
        first = await integration.call(resource, _parameters("quick"), client_token="entry-1")
        assert first["Containers"][0]["ExitCode"] == 0
        again = await integration.call(resource, _parameters("quick"), client_token="entry-1")
        assert again["TaskArn"] == first["TaskArn"]
        assert len(manager.store.tasks()) == 1
        other = await integration.call(resource, _parameters("quick"), client_token="entry-2")
        assert other["TaskArn"] != first["TaskArn"]

    run(tmp_path, scenario)


def _once_slow_machine(mark: Path) -> dict[str, Any]:
    return {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": f"{RUN_TASK_PREFIX}.sync",
                "Parameters": _parameters("once-slow", mark),
                "End": True,
            }
        },
    }


async def _open(manager: ServiceManager) -> Engine:
    api = EcsApi(manager)
    engine = Engine(manager.store.db, arns=ArnFactory())
    engine.integrations.register(RUN_TASK_PREFIX, EcsRunTaskIntegration(api))
    await engine.start()
    return engine


def test_a_sync_task_stopped_by_a_shutdown_runs_again_once(tmp_path: Path) -> None:
    """A server shutting down stops the task (its process dies with the server); the
    next server runs the state again, sees that the task it started was stopped by the
    server, and starts one more: two tasks in all, the second one's result."""
    mark = tmp_path / "mark"
    db = tmp_path / "m.db"
    machine = _machine(_once_slow_machine(mark), "restartable")

    async def main() -> None:
        async with open_manager(db) as manager:
            await EcsApi(manager).handle_ecs(
                "RegisterTaskDefinition",
                {"family": "once-slow", "containerDefinitions": [container(ONCE_SLOW)]},
            )
            engine = await _open(manager)
            record = await engine.start_execution(machine, name="e1", input="{}")
            await wait_for(mark.exists, what="the first task to start")
            await engine.close()
        async with open_manager(db) as manager:
            (stopped,) = manager.store.tasks()
            assert stopped.stopped_reason == SHUTDOWN_REASON
            engine = await _open(manager)
            try:
                done = await engine.wait_for(record.execution_arn, timeout=30)
                assert done.status == "SUCCEEDED", (done.error, done.cause)
                tasks = manager.store.tasks()
                assert len(tasks) == 2
                assert json.loads(done.output or "{}")["TaskArn"].endswith(tasks[1].id)
                assert tasks[1].exit_code == 0
            finally:
                await engine.close()

    asyncio.run(main())


@pytest.mark.parametrize("pattern", ["", ".waitForTaskToken"])
def test_other_patterns_pass_the_token_too(tmp_path: Path, pattern: str) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        integration = EcsRunTaskIntegration(api)
        resource = f"{RUN_TASK_PREFIX}{pattern}"
        first = await integration.call(resource, _parameters("sleeper"), client_token="e")
        again = await integration.call(resource, _parameters("sleeper"), client_token="e")
        assert again == first
        assert len(manager.store.tasks()) == 1

    run(tmp_path, scenario)


def test_a_task_left_by_a_crashed_server_is_started_again(tmp_path: Path) -> None:
    """A task the next server reaped (its predecessor was killed) did not finish: the
    state's next run starts a new one, and a run after that finds the new one."""

    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        integration = EcsRunTaskIntegration(api)
        first = await integration.call(RUN_TASK_PREFIX, _parameters("sleeper"), client_token="e")
        (task,) = manager.store.tasks()
        await api.handle_ecs("StopTask", {"task": task.id})
        await wait_for(lambda: manager.store.tasks()[0].last_status == "STOPPED")
        manager.store.update_tasks(
            [task.id], stop_code="ServiceSchedulerInitiated", stopped_reason=RESTARTED_REASON
        )
        second = await integration.call(RUN_TASK_PREFIX, _parameters("sleeper"), client_token="e")
        assert second["Tasks"][0]["TaskArn"] != first["Tasks"][0]["TaskArn"]
        third = await integration.call(RUN_TASK_PREFIX, _parameters("sleeper"), client_token="e")
        assert third == second
        assert len(manager.store.tasks()) == 2

    run(tmp_path, scenario)


def _with_marker(family: str, value: str) -> dict[str, Any]:
    parameters = _parameters(family)
    parameters["Overrides"] = {
        "ContainerOverrides": [{"Name": "main", "Environment": [{"Name": "V", "Value": value}]}]
    }
    return parameters


@pytest.mark.parametrize("pattern", ["", ".sync"])
def test_a_state_entry_run_again_with_other_values_gets_its_first_task(
    tmp_path: Path, pattern: str
) -> None:
    """Parameters that evaluate anew each time (``States.UUID()``, a timestamp) differ
    when the state entry runs again after a restart: the entry's token still answers
    with the task its first run started, never ``Ecs.ConflictException``."""

    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs(
            "RegisterTaskDefinition",
            {"family": "quick", "containerDefinitions": [container(QUICK)]},
        )
        integration = EcsRunTaskIntegration(api)
        resource = f"{RUN_TASK_PREFIX}{pattern}"
        first = await integration.call(resource, _with_marker("quick", "a"), client_token="e")
        again = await integration.call(resource, _with_marker("quick", "b"), client_token="e")
        assert again == first
        (task,) = manager.store.tasks()
        assert '"a"' in (task.overrides or "")  # the first run's values
        # a token the parameters give is the caller's: a conflict is still refused
        given = {**_with_marker("quick", "a"), "ClientToken": "mine"}
        await integration.call(RUN_TASK_PREFIX, given)
        with pytest.raises(StatesError) as conflict:
            await integration.call(RUN_TASK_PREFIX, {**given, "Count": 1, "Group": "g"})
        assert conflict.value.error == "Ecs.ConflictException"

    run(tmp_path, scenario)


@pytest.mark.parametrize("key", ["ClientToken", "clientToken"])
def test_a_token_in_the_parameters_is_the_callers(tmp_path: Path, key: str) -> None:
    """A token the state's parameters give (in either spelling the integration takes)
    is used as it is, never replaced by the entry's own."""

    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        await api.handle_ecs("RegisterTaskDefinition", SLEEPER_DEF)
        integration = EcsRunTaskIntegration(api)
        given = {**_parameters("sleeper"), key: "callers-own"}
        first = await integration.call(RUN_TASK_PREFIX, given, client_token="entry-1")
        other = await integration.call(RUN_TASK_PREFIX, given, client_token="entry-2")
        assert other == first
        assert len(manager.store.tasks()) == 1

    run(tmp_path, scenario)
