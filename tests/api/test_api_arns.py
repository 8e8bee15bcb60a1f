"""ARN shapes: which resource parts name a resource of their kind."""

from __future__ import annotations

import pytest

from montemap.arns import Arn, ArnFactory, resource_problem

FACTORY = ArnFactory()
P = FACTORY.prefix


def problem(text: str) -> str | None:
    arn = Arn.parse(text)
    assert arn is not None, text
    return resource_problem(arn)


@pytest.mark.parametrize(
    "text",
    [
        FACTORY.state_machine("machine"),
        f"{P}:stateMachine:machine:3",
        f"{P}:stateMachine:machine:PROD",
        FACTORY.activity("act"),
        FACTORY.execution("machine", "run-1"),
        FACTORY.express_execution("machine", "run-1"),
        FACTORY.execution("machine/Map", "0123-0000001"),
        FACTORY.map_run("machine", "Map", "f3a1e9b2-0000-4000-8000-000000000000"),
    ],
)
def test_arns_montemap_makes_are_well_formed(text: str) -> None:
    assert problem(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"{P}:stateMachine:bad name", "Invalid name"),
        (f"{P}:stateMachine:a:b:c", "Too many parts"),
        (f"{P}:stateMachine:a:not ok", "Invalid version or alias"),
        (f"{P}:activity:a:1", "Too many parts"),
        (f"{P}:execution:only-machine", "needs a state machine and an execution name"),
        (f"{P}:execution:m:bad*name", "Invalid execution name"),
        (f"{P}:execution:bad{{m:e", "Invalid state machine name"),
        (f"{P}:mapRun:machine:id", "needs <machine>/<label>:<id>"),
    ],
)
def test_malformed_resource_parts(text: str, says: str) -> None:
    found = problem(text)
    assert found is not None and says in found
