"""Finding 6 and the surrogate half of finding 2: bad input is a 400, never a 500 or a loss.

Before: 100,000-deep JSON bodies and inputs, a 5,000-digit integer and
``NaN`` answered 500 or were accepted; ``Wait Seconds: 1e30`` and a huge
``SecondsPath`` ended executions with "Internal error: OverflowError";
listObjectsV2 ``MaxKeys: "abc"`` with "Internal error: ValueError";
DeleteStateMachine answered 200 to malformed and other-region ARNs; a lone
surrogate (``"\\ud800"``) anywhere made the shared commit fail, losing other
clients' acknowledged work. Now each is refused at the edge with the AWS error
code, before anything is written, and executions fail with ``States.*`` errors.
"""

from __future__ import annotations

import http.client
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from montemap.testing import MontemapServer, eventually
from tests.console.helpers import Http

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-test"
PREFIX = "arn:aws:states:us-east-1:123456789012"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
DEEP = 100_000
LONE = "\ud800"


def post(
    server: MontemapServer, action: str, body: bytes, *, ecs: bool = False
) -> tuple[int, dict[str, Any]]:
    """One raw JSON request (Step Functions, or ECS with ``ecs``); the status and the body."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    headers = {
        "Content-Type": "application/x-amz-json-1.1" if ecs else "application/x-amz-json-1.0",
        "X-Amz-Target": (
            f"AmazonEC2ContainerServiceV20141113.{action}" if ecs else f"AWSStepFunctions.{action}"
        ),
    }
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def call(server: MontemapServer, action: str, params: dict[str, Any]) -> tuple[int, str]:
    """``params`` sent with ASCII escapes (lone surrogates become ``\\ud800``)."""
    status, body = post(server, action, json.dumps(params).encode())
    return status, body.get("__type", "").rsplit("#", 1)[-1]


def unique(prefix: str = "bad") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create(server: MontemapServer, definition: Any = PASS, name: str | None = None) -> str:
    status, body = post(
        server,
        "CreateStateMachine",
        json.dumps(
            {
                "name": name or unique(),
                "definition": json.dumps(definition),
                "roleArn": ROLE_ARN,
            }
        ).encode(),
    )
    assert status == 200, body
    arn: str = body["stateMachineArn"]
    return arn


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture(scope="module")
def server(shared_montemap_server: MontemapServer) -> MontemapServer:
    return shared_montemap_server


@pytest.fixture(scope="module")
def machine(server: MontemapServer) -> str:
    return create(server)


# --------------------------------------------------------------------------- finding 6


def test_a_100000_deep_body_is_a_serialization_exception(server: MontemapServer) -> None:
    body = b'{"maxResults": ' + deep(DEEP).encode() + b"}"
    status, error = post(server, "ListStateMachines", body)
    assert status == 400
    assert error["__type"].endswith("#SerializationException")
    assert "nested more than" in error["message"]


def test_a_100000_deep_input_is_invalid_execution_input(
    server: MontemapServer, machine: str
) -> None:
    params = {"stateMachineArn": machine, "input": deep(DEEP)}
    assert call(server, "StartExecution", params) == (400, "InvalidExecutionInput")


def test_a_100000_deep_task_output_is_invalid_output(server: MontemapServer) -> None:
    params = {"taskToken": "x" * 20, "output": deep(DEEP)}
    assert call(server, "SendTaskSuccess", params) == (400, "InvalidOutput")


def test_a_100000_deep_definition_is_invalid(server: MontemapServer) -> None:
    definition = '{"StartAt": "P", "Comment": ' + deep(DEEP) + ', "States": {}}'
    params = {"name": unique(), "definition": definition, "roleArn": ROLE_ARN}
    assert call(server, "CreateStateMachine", params) == (400, "InvalidDefinition")


@pytest.mark.parametrize(
    "number", ["1" * 5000, "-" + "9" * 400, "1e400", "-1e999", "NaN", "Infinity", "-Infinity"]
)
def test_numbers_a_double_cannot_hold_are_refused(
    server: MontemapServer, machine: str, number: str
) -> None:
    body = b'{"maxResults": ' + number.encode() + b"}"
    status, error = post(server, "ListStateMachines", body)
    assert (status, error["__type"].rsplit("#", 1)[-1]) == (400, "SerializationException")
    params = {"stateMachineArn": machine, "input": '{"n": ' + number + "}"}
    assert call(server, "StartExecution", params) == (400, "InvalidExecutionInput")
    params = {"taskToken": "x" * 20, "output": "[" + number + "]"}
    assert call(server, "SendTaskSuccess", params) == (400, "InvalidOutput")


@pytest.mark.parametrize(
    "body",
    [
        deep(DEEP).encode(),
        b'{"cluster": NaN}',
        b'{"cluster": 1' + b"0" * 5000 + b"}",
        b'{"cluster": "\\ud800"}',
    ],
    ids=["deep", "nan", "huge-number", "surrogate"],
)
def test_ecs_bodies_follow_the_same_rules(server: MontemapServer, body: bytes) -> None:
    status, answer = post(server, "ListServices", body, ecs=True)
    assert (status, answer.get("__type", "").rsplit("#", 1)[-1]) == (400, "SerializationException")


def test_machine_timeout_past_aws_limit_is_an_invalid_definition(server: MontemapServer) -> None:
    definition = {**PASS, "TimeoutSeconds": 1e30}
    params = {"name": unique(), "definition": json.dumps(definition), "roleArn": ROLE_ARN}
    assert call(server, "CreateStateMachine", params) == (400, "InvalidDefinition")


def test_wait_seconds_past_aws_limit_is_an_invalid_definition(server: MontemapServer) -> None:
    for seconds in (1e30, 100_000_000, -1):
        definition = {
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": seconds, "End": True}},
        }
        params = {"name": unique(), "definition": json.dumps(definition), "roleArn": ROLE_ARN}
        assert call(server, "CreateStateMachine", params) == (400, "InvalidDefinition")


def _run(server: MontemapServer, definition: dict[str, Any], input: str) -> dict[str, Any]:
    client = server.client()
    try:
        arn = client.create_state_machine(
            name=unique(), definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=arn, input=input)["executionArn"]

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = client.describe_execution(executionArn=execution)
            return None if described["status"] == "RUNNING" else described

        return eventually(ended, timeout=60, what="the execution to end")
    finally:
        client.close()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("SecondsPath", 10**30, "larger than 99999999"),
        ("TimestampPath", "9999-12-31T23:59:59-01:00", "ISO-8601"),
    ],
)
def test_wait_paths_out_of_range_fail_with_states_runtime(
    server: MontemapServer, field: str, value: Any, says: str
) -> None:
    wait = {"Type": "Wait", field: "$.v", "End": True}
    described = _run(server, {"StartAt": "W", "States": {"W": wait}}, json.dumps({"v": value}))
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert says in described["cause"]
    assert "Internal error" not in described["cause"]


def test_list_objects_with_a_bad_max_keys_is_an_s3_error(server: MontemapServer) -> None:
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
        "Parameters": {"Bucket": "no-such-bucket", "MaxKeys.$": "$.keys"},
        "Catch": [{"ErrorEquals": ["S3.InvalidArgumentException"], "Next": "Caught"}],
        "End": True,
    }
    states = {"L": task, "Caught": {"Type": "Pass", "End": True}}
    described = _run(server, {"StartAt": "L", "States": states}, '{"keys": "abc"}')
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert output["Error"] == "S3.InvalidArgumentException"
    assert "max-keys" in output["Cause"]


@pytest.mark.parametrize(
    ("action", "member", "arn"),
    [
        ("DeleteStateMachine", "stateMachineArn", "not-an-arn"),
        ("DeleteStateMachine", "stateMachineArn", f"{PREFIX}:stateMachine:bad name"),
        ("DeleteStateMachine", "stateMachineArn", f"{PREFIX}:stateMachine:a:b:c"),
        (
            "DeleteStateMachine",
            "stateMachineArn",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:x",
        ),
        (
            "DeleteStateMachine",
            "stateMachineArn",
            "arn:aws:states:us-east-1:999999999999:stateMachine:x",
        ),
        (
            "DescribeStateMachine",
            "stateMachineArn",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:x",
        ),
        ("DeleteActivity", "activityArn", "arn:aws:states:eu-west-1:123456789012:activity:x"),
        ("DeleteActivity", "activityArn", f"{PREFIX}:activity:a:b"),
        (
            "DescribeExecution",
            "executionArn",
            "arn:aws:states:eu-west-1:123456789012:execution:m:e",
        ),
        ("DescribeExecution", "executionArn", f"{PREFIX}:execution:only-a-machine"),
        ("StopExecution", "executionArn", "arn:aws:states:us-east-1:999999999999:execution:m:e"),
        ("ListTagsForResource", "resourceArn", "arn:aws:states:eu-west-1:123456789012:activity:x"),
    ],
)
def test_malformed_and_foreign_arns_are_invalid_arn(
    server: MontemapServer, action: str, member: str, arn: str
) -> None:
    assert call(server, action, {member: arn}) == (400, "InvalidArn")


def test_a_foreign_arn_deletes_nothing(server: MontemapServer) -> None:
    name = unique()
    arn = create(server, name=name)
    foreign = f"arn:aws:states:eu-west-1:123456789012:stateMachine:{name}"
    assert call(server, "DeleteStateMachine", {"stateMachineArn": foreign}) == (400, "InvalidArn")
    assert call(server, "DescribeStateMachine", {"stateMachineArn": arn}) == (200, "")


# --------------------------------------------------------------------------- finding 2


def _surrogate_requests(machine: str, activity: str) -> list[tuple[str, dict[str, Any]]]:
    token = "t" * 20
    tags = [{"key": "k", "value": LONE}]
    return [
        (
            "CreateStateMachine",
            {"name": f"sm{LONE}", "definition": json.dumps(PASS), "roleArn": ROLE_ARN},
        ),
        (
            "CreateStateMachine",
            {
                "name": unique(),
                "definition": json.dumps({**PASS, "Comment": LONE}),
                "roleArn": ROLE_ARN,
            },
        ),
        (
            "CreateStateMachine",
            {"name": unique(), "definition": json.dumps(PASS), "roleArn": ROLE_ARN, "tags": tags},
        ),
        ("StartExecution", {"stateMachineArn": machine, "name": f"e{LONE}"}),
        ("StartExecution", {"stateMachineArn": machine, "input": LONE}),
        ("StartExecution", {"stateMachineArn": machine, "input": json.dumps({"a": [LONE]})}),
        ("StartExecution", {"stateMachineArn": machine, "input": json.dumps({LONE: 1})}),
        ("SendTaskSuccess", {"taskToken": token, "output": json.dumps({"o": LONE})}),
        ("SendTaskSuccess", {"taskToken": f"{token}{LONE}", "output": "{}"}),
        ("SendTaskFailure", {"taskToken": token, "error": LONE}),
        ("SendTaskFailure", {"taskToken": token, "cause": f"cause {LONE}"}),
        ("StopExecution", {"executionArn": f"{PREFIX}:execution:m:e", "cause": LONE}),
        ("CreateActivity", {"name": f"act{LONE}"}),
        ("TagResource", {"resourceArn": activity, "tags": tags}),
        ("ListStateMachines", {"nextToken": LONE}),
    ]


def test_lone_surrogates_are_refused_on_every_string_path(
    server: MontemapServer, machine: str
) -> None:
    client = server.client()
    try:
        activity = client.create_activity(name=unique("act"))["activityArn"]
        for action, params in _surrogate_requests(machine, activity):
            status, code = call(server, action, params)
            assert status == 400, (action, params, code)
            assert code in {
                "SerializationException",
                "ValidationException",
                "InvalidExecutionInput",
                "InvalidOutput",
                "InvalidDefinition",
            }, (action, code)
        # ValidateStateMachineDefinition reports it (200, FAIL) without echoing it.
        definition = json.dumps({**PASS, "Comment": LONE})
        status, body = post(
            server,
            "ValidateStateMachineDefinition",
            json.dumps({"definition": definition}).encode(),
        )
        assert status == 200 and body["result"] == "FAIL", body
        assert body["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"
        # Nothing was stored: the listings and a tag read answer, and hold no surrogate.
        names = [m["name"] for m in client.list_state_machines()["stateMachines"]]
        assert not [n for n in names if LONE in n]
        assert client.list_tags_for_resource(resourceArn=activity)["tags"] == []
        executions = client.list_executions(stateMachineArn=machine)["executions"]
        assert all(LONE not in e["name"] for e in executions)
    finally:
        client.close()


def test_an_activity_worker_sending_a_surrogate_loses_nothing(server: MontemapServer) -> None:
    """The refused SendTaskSuccess leaves the task open; the good one ends the execution."""
    client = server.client()
    try:
        activity = client.create_activity(name=unique("act"))["activityArn"]
        definition = {
            "StartAt": "A",
            "States": {"A": {"Type": "Task", "Resource": activity, "End": True}},
        }
        arn = client.create_state_machine(
            name=unique(), definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=arn)["executionArn"]
        token = client.get_activity_task(activityArn=activity)["taskToken"]
        bad = {"taskToken": token, "output": json.dumps({"o": LONE})}
        assert call(server, "SendTaskSuccess", bad) == (400, "InvalidOutput")
        bad = {"taskToken": token, "error": "E", "cause": LONE}
        assert call(server, "SendTaskFailure", bad) == (400, "SerializationException")
        assert client.describe_execution(executionArn=execution)["status"] == "RUNNING"
        client.send_task_success(taskToken=token, output='{"ok": true}')

        def succeeded() -> bool:
            described = client.describe_execution(executionArn=execution)
            return bool(
                described["status"] == "SUCCEEDED"
                and json.loads(described["output"]) == {"ok": True}
            )

        eventually(succeeded, timeout=60, what="the execution to succeed")
        assert client.get_execution_history(executionArn=execution)["events"]
    finally:
        client.close()


def test_200_concurrent_starts_all_succeed(server: MontemapServer, machine: str) -> None:
    """Good requests sent at once with bad ones: every good one is answered 200 and runs."""

    def start(index: int) -> tuple[int, str]:
        if index % 11 == 0:  # a poisoned request among the good ones
            return call(
                server, "StartExecution", {"stateMachineArn": machine, "input": json.dumps([LONE])}
            )
        params = {"stateMachineArn": machine, "name": f"c-{index}-{uuid.uuid4().hex[:8]}"}
        status, body = post(server, "StartExecution", json.dumps(params).encode())
        return status, body.get("executionArn", "")

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(start, range(220)))
    good = [results[i] for i in range(220) if i % 11]
    bad = [results[i] for i in range(220) if i % 11 == 0]
    assert len(good) == 200 and all(status == 200 for status, _ in good), good
    assert all(result == (400, "InvalidExecutionInput") for result in bad), bad
    client = server.client()
    try:

        def all_succeeded() -> bool:
            return all(
                client.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
                for _, arn in good
            )

        eventually(all_succeeded, timeout=90, what="every started execution to succeed")
    finally:
        client.close()


def test_the_console_start_form_refuses_bad_input(server: MontemapServer, machine: str) -> None:
    """The console's start form uses the API's checks: a 400 on the form, nothing started."""
    http = Http(server.url)
    for text in (deep(DEEP), '{"n": NaN}', '{"n": ' + "1" * 5000 + "}", json.dumps([LONE])):
        reply = http.post("/console/start", {"arn": machine, "name": unique("form"), "input": text})
        assert reply.status == 400, reply.body[:300]
        assert "InvalidExecutionInput" in reply.body
    client = server.client()
    try:
        names = [e["name"] for e in client.list_executions(stateMachineArn=machine)["executions"]]
        assert not [n for n in names if n.startswith("form-")]
    finally:
        client.close()


@pytest.mark.parametrize("field", ["TimeoutSecondsPath", "HeartbeatSecondsPath"])
def test_task_second_paths_past_aws_limit_fail_with_states_runtime(
    server: MontemapServer, field: str
) -> None:
    task = {"Type": "Task", "Resource": f"{PREFIX}:activity:none", field: "$.v", "End": True}
    definition = {"StartAt": "T", "States": {"T": task}}
    described = _run(server, definition, json.dumps({"v": 10**30}))
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert field in described["cause"]
