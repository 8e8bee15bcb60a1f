"""A Task's HeartbeatSeconds must be smaller than its TimeoutSeconds (a heartbeat as
long or longer would never lapse first). The rule holds for every JSON spelling of a
whole number: ``5.0`` is the integer 5, accepted as a TimeoutSeconds of its own, so
``TimeoutSeconds: 5.0, HeartbeatSeconds: 5.0`` is refused at create time as ``5, 5``
is (it used to pass, then fail every execution with ``States.Runtime``)."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.asl.definition import validate_definition

ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:a"
SMALLER = (
    "The value for the field 'HeartbeatSeconds' must be smaller than the value for the "
    "field 'TimeoutSeconds'"
)


def _errors(timeout: Any, heartbeat: Any) -> list[tuple[str, str]]:
    task = {
        "Type": "Task",
        "Resource": ACTIVITY,
        "TimeoutSeconds": timeout,
        "HeartbeatSeconds": heartbeat,
        "End": True,
    }
    found = validate_definition({"StartAt": "T", "States": {"T": task}})
    return [(d.location, d.message) for d in found if d.severity == "ERROR"]


@pytest.mark.parametrize(
    ("timeout", "heartbeat"), [(5, 5), (5.0, 5.0), (5, 6.0), (5.0, 5), (2.0, 3)]
)
def test_a_heartbeat_not_under_the_timeout_is_refused(timeout: Any, heartbeat: Any) -> None:
    assert _errors(timeout, heartbeat) == [("/States/T/HeartbeatSeconds", SMALLER)]


@pytest.mark.parametrize(("timeout", "heartbeat"), [(5, 4), (5.0, 4.0), (5, 4.0)])
def test_a_heartbeat_under_the_timeout_is_accepted(timeout: Any, heartbeat: Any) -> None:
    assert _errors(timeout, heartbeat) == []
