"""AWS's bounds on seconds in a definition: Wait Seconds, TimeoutSeconds, HeartbeatSeconds."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.asl.definition import validate_definition
from montemap.asl.validate_states import MAX_SECONDS


def errors(state: dict[str, Any]) -> list[str]:
    definition = {"StartAt": "S", "States": {"S": {**state, "End": True}}}
    return [d.message for d in validate_definition(definition) if d.severity == "ERROR"]


@pytest.mark.parametrize("seconds", [0, 1, MAX_SECONDS, 5.0])
def test_wait_seconds_within_bounds(seconds: Any) -> None:
    assert errors({"Type": "Wait", "Seconds": seconds}) == []


@pytest.mark.parametrize("seconds", [1e30, MAX_SECONDS + 1, -1, 1.5, "10"])
def test_wait_seconds_outside_bounds(seconds: Any) -> None:
    found = errors({"Type": "Wait", "Seconds": seconds})
    assert len(found) == 1
    assert "'Seconds' must be an integer between 0 and 99999999" in found[0]


@pytest.mark.parametrize("field", ["TimeoutSeconds", "HeartbeatSeconds"])
def test_task_seconds_bounded(field: str) -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:a"}
    assert errors({**task, field: 1e30}) != []
    assert errors({**task, "TimeoutSeconds": MAX_SECONDS}) == []
