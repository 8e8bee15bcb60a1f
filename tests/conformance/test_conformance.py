"""Every AWS-recorded case in ``corpus/cases.jsonl`` through the real API.

The corpus is a copy, kept in the repository so every clone runs all of it, of
the Apache-2.0 data described in ``corpus/README.md`` (see ``corpus/NOTICE``).

Each case creates a state machine on a real ``montemap server`` (boto3 over
loopback HTTP), starts an execution with the recorded input, acts as the
activity worker where the case says so, waits for the end and compares status,
output (JSON equality, booleans kept apart from numbers), error, cause, and the
history's event types. Cases we know we differ on are listed, with the reason,
in ``docs/conformance.md`` and in ``KNOWN_DIFFERENCES`` below.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from montemap.testing import wait_for_execution
from tests.conformance.corpus import CASES_FILE, EXPECTED_CASES, load_cases

#: Case id -> why montemap differs from AWS (mirrors docs/conformance.md).
KNOWN_DIFFERENCES: dict[str, str] = {}


CASES = load_cases()


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values that keeps true/false apart from 1/0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _cause_equal(actual: str | None, expected: str | None) -> bool:
    if actual == expected:
        return True
    try:
        return json_equal(json.loads(actual or ""), json.loads(expected or ""))
    except ValueError:
        return False


def _act_as_worker(client: Any, activity_arn: str, spec: dict[str, Any]) -> None:
    kwargs = {"activityArn": activity_arn}
    if spec.get("worker_name"):
        kwargs["workerName"] = spec["worker_name"]
    task = client.get_activity_task(**kwargs)
    token = task.get("taskToken")
    assert token, "the worker got no task"
    if spec["worker"] == "succeed":
        if spec.get("heartbeat"):
            client.send_task_heartbeat(taskToken=token)
        client.send_task_success(taskToken=token, output=spec["output"])
    elif spec["worker"] == "fail":
        client.send_task_failure(taskToken=token, error=spec["error"], cause=spec["cause"])
    # "hold": take the task and never answer


def test_the_whole_corpus_is_there() -> None:
    assert len(CASES) == EXPECTED_CASES, f"{CASES_FILE} holds {len(CASES)} cases"


@pytest.mark.conformance
@pytest.mark.parametrize("case", CASES, ids=[c["id"].split("::", 1)[-1] for c in CASES])
def test_case(case: dict[str, Any], shared_sfn_client: Any, request: pytest.FixtureRequest) -> None:
    if case["id"] in KNOWN_DIFFERENCES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[case["id"]], strict=False))
    client = shared_sfn_client
    suffix = f"{abs(hash(case['id'])):x}"[:12] + f"{time.monotonic_ns() % 10**6}"
    definition = case["definition"]
    expected_cause = case["expected"]["cause"]
    activity = case.get("activity")
    activity_arn = None
    if activity:
        activity_arn = client.create_activity(name=f"act-{suffix}")["activityArn"]
        definition = definition.replace("__ACTIVITY_ARN__", activity_arn)
        if expected_cause:
            expected_cause = expected_cause.replace("__ACTIVITY_ARN__", activity_arn)
        if activity["worker"] == "deleted":
            client.delete_activity(activityArn=activity_arn)
    sm_arn = client.create_state_machine(
        name=f"conf-{suffix}",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/conformance",
    )["stateMachineArn"]
    execution_arn = client.start_execution(stateMachineArn=sm_arn, input=case["input"])[
        "executionArn"
    ]
    if activity and activity["worker"] != "deleted":
        _act_as_worker(client, activity_arn, activity)  # type: ignore[arg-type]
    described = wait_for_execution(client, execution_arn, timeout=60, interval=0.02)
    expected = case["expected"]
    assert described["status"] == expected["status"], described
    if expected["status"] == "SUCCEEDED":
        assert json_equal(json.loads(described["output"]), json.loads(expected["output"])), (
            described["output"],
            expected["output"],
        )
    else:
        assert described.get("error") == expected["error"]
        assert _cause_equal(described.get("cause"), expected_cause), (
            described.get("cause"),
            expected_cause,
        )
    if case["event_types"]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = client.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        assert [e["type"] for e in events] == case["event_types"]
