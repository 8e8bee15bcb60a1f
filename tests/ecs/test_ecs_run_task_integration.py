"""``arn:aws:states:::ecs:runTask`` (request-response) and ``runTask.sync`` (wait for the
task to stop) from a state machine, on the local ECS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.ecs_integration import (
    PREFIX,
    RUN_TASK_PREFIX,
    EcsIntegration,
    EcsRunTaskIntegration,
)
from montemap.ecs.service import ServiceManager
from montemap.engine.engine import Engine

from .test_ecs_integration import _machine
from .test_service_support import PY, container, open_manager

#: Exits with $CODE after a moment.
EXITER = [
    PY,
    "-c",
    "import os, sys, time; time.sleep(0.2); sys.exit(int(os.environ.get('CODE', '0')))",
]


def run_task_machine(pattern: str) -> dict[str, Any]:
    return {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": f"{RUN_TASK_PREFIX}{pattern}",
                "Parameters": {
                    "Cluster": "default",
                    "TaskDefinition": "exiter",
                    "Overrides": {
                        "ContainerOverrides": [
                            {"Name": "main", "Environment": [{"Name": "CODE", "Value.$": "$.code"}]}
                        ]
                    },
                },
                "End": True,
            }
        },
    }


def _with_engine(tmp_path: Path, scenario: Any) -> None:
    async def main() -> None:
        async with open_manager(tmp_path / "ecs.db") as manager:
            api = EcsApi(manager)
            await api.handle_ecs(
                "RegisterTaskDefinition",
                {"family": "exiter", "containerDefinitions": [container(EXITER)]},
            )
            engine = Engine(manager.store.db, arns=ArnFactory())
            engine.integrations.register(PREFIX, EcsIntegration(api))
            engine.integrations.register(RUN_TASK_PREFIX, EcsRunTaskIntegration(api))
            await engine.start()
            try:
                await scenario(engine, manager)
            finally:
                await engine.close()

    asyncio.run(main())


async def _run(engine: Engine, definition: dict[str, Any], name: str, value: Any) -> Any:
    record = await engine.start_execution(
        _machine(definition, name), name=name, input=json.dumps(value)
    )
    return await engine.wait_for(record.execution_arn, timeout=30)


def test_run_task_sync_waits_for_the_task_and_reports_its_end(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        done = await _run(engine, run_task_machine(".sync"), "ok", {"code": "0"})
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        task = json.loads(done.output)
        assert task["LastStatus"] == "STOPPED"
        assert task["StopCode"] == "EssentialContainerExited"
        assert task["Containers"][0]["ExitCode"] == 0
        assert task["Group"] == "family:exiter"
        events, _ = engine.get_execution_history(
            done.execution_arn, reverse=False, max_results=100, next_token=None, include_data=True
        )
        types = [e["type"] for e in events if e["type"].startswith("Task")]
        assert types[-4:] == ["TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited"]
        submitted = next(e for e in events if e["type"] == "TaskSubmitted")
        details = submitted["taskSubmittedEventDetails"]
        assert (details["resourceType"], details["resource"]) == ("ecs", "runTask.sync")
        (started,) = json.loads(details["output"])["Tasks"]
        assert started["TaskArn"] == task["TaskArn"]

        failed = await _run(engine, run_task_machine(".sync"), "bad", {"code": "3"})
        assert (failed.status, failed.error) == ("FAILED", "States.TaskFailed")
        cause = json.loads(failed.cause)
        assert cause["Containers"][0]["ExitCode"] == 3

    _with_engine(tmp_path, scenario)


def test_run_task_request_response_returns_at_once(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        done = await _run(engine, run_task_machine(""), "rr", {"code": "0"})
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        out = json.loads(done.output)
        assert out["Failures"] == []
        (task,) = out["Tasks"]
        assert task["DesiredStatus"] == "RUNNING"
        assert task["TaskDefinitionArn"].endswith(":task-definition/exiter:1")

    _with_engine(tmp_path, scenario)


def test_a_run_task_sync_that_times_out_stops_its_task(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        definition = run_task_machine(".sync")
        definition["States"]["Run"]["TimeoutSeconds"] = 1
        definition["States"]["Run"]["Parameters"]["Overrides"]["ContainerOverrides"][0][
            "Command"
        ] = [PY, "-c", "import time; time.sleep(600)"]
        done = await _run(engine, definition, "slow", {"code": "0"})
        assert (done.status, done.error) == ("FAILED", "States.Timeout")

        def all_stopped() -> bool:
            tasks = manager.store.tasks()
            return bool(tasks) and all(t.last_status == "STOPPED" for t in tasks)

        await manager.wait_until(all_stopped, 20)

    _with_engine(tmp_path, scenario)


def test_run_task_wait_for_task_token_waits_for_the_callback(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        definition = run_task_machine(".waitForTaskToken")
        environment = definition["States"]["Run"]["Parameters"]["Overrides"]["ContainerOverrides"][
            0
        ]["Environment"]
        environment.append({"Name": "TOKEN", "Value.$": "$$.Task.Token"})
        record = await engine.start_execution(
            _machine(definition, "cb"), name="cb", input=json.dumps({"code": "0"})
        )
        await manager.wait_until(lambda: bool(manager.store.tasks()), 20)
        (task,) = manager.store.tasks()
        (override,) = task.override_values["containerOverrides"]
        token = {e["name"]: e["value"] for e in override["environment"]}["TOKEN"]
        await engine.send_task_success(token, '{"called": "back"}')
        done = await engine.wait_for(record.execution_arn, timeout=30)
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        assert json.loads(done.output or "null") == {"called": "back"}

    _with_engine(tmp_path, scenario)
