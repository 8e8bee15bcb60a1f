"""RegisterTaskDefinition with ``requiresCompatibilities: [FARGATE]`` is held to Fargate's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from montemap.ecs.ecs_api import EcsApi
from montemap.ecs.service import ServiceManager

from .test_ecs_api import SLEEPER_DEF, refused, run

FARGATE: dict[str, Any] = {
    **SLEEPER_DEF,
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
}


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        ("256", "512"),
        ("256", "2048"),
        ("512", "4096"),
        ("1 vCPU", "8 GB"),
        ("2048", "16384"),
        ("4096", "30720"),
        ("8192", "61440"),
        ("16384", "122880"),
    ],
)
def test_fargate_sizes_aws_offers_are_registered(tmp_path: Path, cpu: str, memory: str) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        done = await api.handle_ecs(
            "RegisterTaskDefinition", {**FARGATE, "cpu": cpu, "memory": memory}
        )
        assert done["taskDefinition"]["revision"] == 1

    run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("cpu", "memory", "units"),
    [
        ("256", "4096", "256 CPU, 4096 memory"),
        ("300", "512", "300 CPU, 512 memory"),
        ("1024", "1024", "1024 CPU, 1024 memory"),
        ("512", "1536", "512 CPU, 1536 memory"),
        ("8192", "18432", "8192 CPU, 18432 memory"),
        ("4096", "31744", "4096 CPU, 31744 memory"),
    ],
)
def test_a_size_fargate_does_not_offer_is_refused(
    tmp_path: Path, cpu: str, memory: str, units: str
) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        error = await refused(
            api, "RegisterTaskDefinition", {**FARGATE, "cpu": cpu, "memory": memory}
        )
        assert (error.code, error.message) == (
            "ClientException",
            f"No Fargate configuration exists for given values: {units}."
            " See the Amazon ECS documentation for the valid values.",
        )
        listed = await api.handle_ecs("ListTaskDefinitions", {"familyPrefix": "sleeper"})
        assert listed["taskDefinitionArns"] == []  # nothing stored

    run(tmp_path, scenario)


def test_fargate_needs_task_level_sizes_and_awsvpc(tmp_path: Path) -> None:
    async def scenario(api: EcsApi, manager: ServiceManager) -> None:
        error = await refused(api, "RegisterTaskDefinition", {**FARGATE, "memory": "512"})
        assert (error.code, error.message) == (
            "ClientException",
            "Fargate requires that 'cpu' be defined at the task level.",
        )
        error = await refused(api, "RegisterTaskDefinition", {**FARGATE, "cpu": "256"})
        assert (error.code, error.message) == (
            "ClientException",
            "Fargate requires that 'memory' be defined at the task level.",
        )
        bridge = {**FARGATE, "cpu": "256", "memory": "512", "networkMode": "bridge"}
        error = await refused(api, "RegisterTaskDefinition", bridge)
        assert (error.code, error.message) == (
            "ClientException",
            "Fargate only supports network mode \u2018awsvpc\u2019.",
        )
        # Without FARGATE (EC2 or nothing asked) any size is the task's own business.
        for extra in ({}, {"requiresCompatibilities": ["EC2"]}):
            free = {**SLEEPER_DEF, **extra, "cpu": "300", "memory": "700"}
            assert (await api.handle_ecs("RegisterTaskDefinition", free))["taskDefinition"]

    run(tmp_path, scenario)
