"""State machines drive the worker service through ``aws-sdk:ecs:updateService``."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from montemap.api.sdk_shapes import iso_timestamp
from montemap.arns import ArnFactory
from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.ecs_integration import PREFIX, EcsIntegration, error_name
from montemap.ecs.service import ServiceManager
from montemap.engine.engine import Engine
from montemap.engine.records import StateMachineRef
from montemap.errors import RUNTIME, StatesError

from .test_service_support import SLEEPER, container, open_manager, running

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _machine(definition: dict[str, Any], name: str) -> StateMachineRef:
    return StateMachineRef(
        arn=ArnFactory().state_machine(name),
        name=name,
        definition=json.dumps(definition),
        role_arn="arn:aws:iam::123456789012:role/test",
    )


def scale_machine(desired: Any) -> dict[str, Any]:
    """The original "Scale Out Workers" / "Destroy Workers" step, with a Catch."""
    return {
        "StartAt": "Scale",
        "States": {
            "Scale": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ecs:updateService",
                "Parameters": {
                    "Cluster": "default",
                    "Service.$": "$.service",
                    "DesiredCount": desired,
                },
                "ResultSelector": {
                    "desired.$": "$.Service.DesiredCount",
                    "arn.$": "$.Service.ServiceArn",
                    "created.$": "$.Service.CreatedAt",
                },
                "Catch": [{"ErrorEquals": ["Ecs.ServiceNotFoundException"], "Next": "NoService"}],
                "End": True,
            },
            "NoService": {"Type": "Pass", "End": True},
        },
    }


async def _run(engine: Engine, machine: StateMachineRef, name: str, value: Any) -> Any:
    record = await engine.start_execution(machine, name=name, input=json.dumps(value))
    return await engine.wait_for(record.execution_arn, timeout=10)


def _with_engine(tmp_path: Path, scenario: Any) -> None:
    async def main() -> None:
        async with open_manager(tmp_path / "ecs.db") as manager:
            engine = Engine(manager.store.db, arns=ArnFactory())
            engine.integrations.register(PREFIX, EcsIntegration(EcsApi(manager)))
            await engine.start()
            try:
                await scenario(engine, manager)
            finally:
                await engine.close()

    asyncio.run(main())


def test_state_machine_scales_out_and_in(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        api = EcsApi(manager)
        await api.handle_ecs(
            "RegisterTaskDefinition",
            {"family": "sleeper", "containerDefinitions": [container(SLEEPER)]},
        )
        await api.handle_ecs(
            "CreateService",
            {"serviceName": "workers", "taskDefinition": "sleeper", "desiredCount": 0},
        )
        out = await _run(
            engine, _machine(scale_machine(3), "scale-out"), "e1", {"service": "workers"}
        )
        assert out.status == "SUCCEEDED", out
        result = json.loads(out.output)
        assert result["desired"] == 3
        assert result["arn"] == "arn:aws:ecs:us-east-1:123456789012:service/default/workers"
        assert ISO.match(result["created"])
        await manager.wait_until(running(manager, "workers", 3), 10)

        out = await _run(
            engine, _machine(scale_machine(0), "scale-in"), "e2", {"service": "workers"}
        )
        assert out.status == "SUCCEEDED", out
        await manager.wait_until(running(manager, "workers", 0), 10)

    _with_engine(tmp_path, scenario)


def test_ecs_errors_are_catchable(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        out = await _run(engine, _machine(scale_machine(1), "m"), "e1", {"service": "ghost"})
        assert out.status == "SUCCEEDED", out
        caught = json.loads(out.output)
        assert caught["Error"] == "Ecs.ServiceNotFoundException"
        assert caught["Cause"].startswith(
            "Service not found. (Service: Ecs, Status Code: 400, Request ID: "
        )

    _with_engine(tmp_path, scenario)


def test_uncaught_ecs_error_fails_the_execution(tmp_path: Path) -> None:
    definition = {
        "StartAt": "Scale",
        "States": {
            "Scale": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ecs:updateService",
                "Parameters": {"Service": "workers", "DesiredCount": -1},
                "End": True,
            }
        },
    }

    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        await EcsApi(manager).handle_ecs(
            "CreateService",
            {"serviceName": "workers", "taskDefinition": "small", "desiredCount": 0},
        )
        out = await _run(engine, _machine(definition, "m"), "e1", {})
        assert out.status == "FAILED"
        assert out.error == "Ecs.InvalidParameterException"

    _with_engine(tmp_path, scenario)


def test_state_machine_desired_count_past_the_quota_is_an_ecs_error(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        integration = EcsIntegration(EcsApi(manager))
        await integration.call(
            f"{PREFIX}createService",
            {"ServiceName": "workers", "TaskDefinition": "small", "DesiredCount": 0},
        )
        with pytest.raises(StatesError) as caught:
            await integration.call(
                f"{PREFIX}updateService", {"Service": "workers", "DesiredCount": 1_000_000}
            )
        assert caught.value.error == "Ecs.InvalidParameterException"
        assert "Desired count exceeds limit" in str(caught.value.cause)
        service = manager.store.get_service("default", "workers")
        assert service is not None and service.desired_count == 0
        assert manager.store.tasks(service="workers") == []

    _with_engine(tmp_path, scenario)


def test_direct_calls_convert_case_and_refuse_unknown_fields(tmp_path: Path) -> None:
    async def scenario(engine: Engine, manager: ServiceManager) -> None:
        integration = EcsIntegration(EcsApi(manager))
        described = await integration.call(
            f"{PREFIX}describeTaskDefinition", {"TaskDefinition": "small", "Include": ["TAGS"]}
        )
        definition = described["TaskDefinition"]
        assert definition["Cpu"] == "256"
        assert (
            definition["ContainerDefinitions"][0]["Environment"][0]["Name"] == "MONTEMAP_DATA_DIR"
        )
        assert ISO.match(definition["RegisteredAt"])
        with pytest.raises(StatesError) as caught:
            await integration.call(f"{PREFIX}updateService", {"Service": "x", "Bogus": 1})
        assert caught.value.error == RUNTIME and "'Bogus'" in str(caught.value.cause)
        with pytest.raises(StatesError) as caught:
            await integration.call(f"{PREFIX}createTaskSet", {})
        assert caught.value.error == RUNTIME
        with pytest.raises(StatesError) as caught:
            await integration.call(f"{PREFIX}updateService.sync", {})
        assert caught.value.error == RUNTIME
        with pytest.raises(StatesError) as caught:
            await integration.call(f"{PREFIX}updateService", ["not", "an", "object"])
        assert caught.value.error == RUNTIME

    _with_engine(tmp_path, scenario)


def test_error_names_and_timestamps() -> None:
    from datetime import UTC, datetime

    assert error_name("ClientException") == "Ecs.ClientException"
    assert error_name("ServerError") == "Ecs.ServerErrorException"
    stamp = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert iso_timestamp(stamp) == "2024-05-01T12:00:00.123Z"
