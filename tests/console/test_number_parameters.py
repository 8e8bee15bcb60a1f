"""Numbers in query strings and forms: only ASCII digits count (``²`` and ``١٢`` are
Unicode digits to ``str.isdigit``, which ``int`` refuses or reads): a 400, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.helpers import Http, create_machine, q

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def finished(sfn: Any) -> str:
    arn = create_machine(sfn, "numbers-pass", PASS)
    execution: str = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    return execution


@pytest.mark.parametrize("after", ["²", "١٢", "½", "-1", "1.0", " 1"])
def test_after_must_be_an_ascii_event_id(http: Http, finished: str, after: str) -> None:
    reply = http.get("/console/api/execution", arn=finished, after=after)
    assert reply.status == 400, reply.body
    assert "'after' must be an event id" in reply.json()["error"]


def test_after_in_ascii_digits_is_read(http: Http, finished: str) -> None:
    reply = http.get(f"/console/api/execution?arn={q(finished)}&after=1")
    assert reply.status == 200
    assert all(event["id"] > 1 for event in reply.json()["events"])


@pytest.mark.parametrize("count", ["²", "١", "٣"])
def test_desired_count_must_be_ascii_digits(http: Http, count: str) -> None:
    update = {"cluster": "default", "service": "nope", "desiredCount": count}
    reply = http.post("/console/services/update", update)
    assert reply.status == 400 and "desiredCount must be a whole number" in reply.body
    create = {"cluster": "default", "serviceName": "n", "taskDefinition": "small"}
    reply = http.post("/console/services/create", {**create, "desiredCount": count})
    assert reply.status == 400 and "desiredCount must be a whole number" in reply.body
