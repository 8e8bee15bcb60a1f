"""A property-based fuzzer over the Step Functions (JSON 1.0) and ECS (JSON 1.1) protocols.

Requests drawn from botocore's service models (``fuzz_strategies``), fitting
and not, and hostile raw bodies go to a real ``montemap server`` on loopback
over plain HTTP (not boto3, which would validate them first). Mixed into the
traffic: executions of small machines that always end, and activity tasks
worked by the test (GetActivityTask, SendTaskHeartbeat, SendTaskSuccess with
a drawn output). Properties:

* no response is a 5xx; every body is standard JSON (no ``NaN``), an object,
  with a ``__type`` on errors;
* after a SIGKILL and a restart, every execution that should end does, and
  every SendTaskSuccess the server answered 200 is in its execution's history
  exactly once, with the output sent (no loss, no duplicate);
* a task completed once cannot be completed again.

Runs are derandomized (the same examples every run), so a failure reproduces
as it is. ``MONTEMAP_FUZZ_SEED=<n>`` explores other examples (the seed is
printed); ``MONTEMAP_FUZZ_EXAMPLES=<n>`` scales the number of examples.
"""

from __future__ import annotations

import http.client
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from montemap.testing import MontemapServer, eventually
from tests.chaos import fuzz_strategies as fs

SFN_TARGET = "AWSStepFunctions."
SFN_CONTENT_TYPE = "application/x-amz-json-1.0"
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
ECS_CONTENT_TYPE = "application/x-amz-json-1.1"
#: Seconds a fuzzed request may take: the 100,000-deep bodies are the slowest.
REQUEST_TIMEOUT = 60.0
#: Seconds every execution that should end gets to end, after the restart.
END_DEADLINE = 90.0
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

#: A failing example's report shows the hostile bodies it drew, some of them large.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


def _examples(default: int) -> int:
    return int(os.environ.get("MONTEMAP_FUZZ_EXAMPLES", default))


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    """Bounded, reproducible Hypothesis settings; ``MONTEMAP_FUZZ_SEED`` picks other examples."""
    chosen = os.environ.get("MONTEMAP_FUZZ_SEED")
    configured = settings(
        max_examples=_examples(examples),
        deadline=None,
        derandomize=chosen is None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    if chosen is None:
        return configured

    def apply(test: Any) -> Any:
        print(f"fuzzing with MONTEMAP_FUZZ_SEED={chosen}")
        return seed(int(chosen))(configured(test))

    return apply


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Wire:
    """Raw JSON 1.0 / 1.1 requests to one server, over a fresh connection each."""

    def __init__(self, server: MontemapServer) -> None:
        self.server = server

    def send(self, target: str, content_type: str, body: bytes) -> Reply:
        connection = http.client.HTTPConnection(
            self.server.host, self.server.port, timeout=REQUEST_TIMEOUT
        )
        headers = {"Content-Type": content_type, "X-Amz-Target": target}
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.read())
        finally:
            connection.close()

    def sfn_raw(self, action: str, body: bytes) -> Reply:
        return self.send(SFN_TARGET + action, SFN_CONTENT_TYPE, body)

    def ecs_raw(self, action: str, body: bytes) -> Reply:
        return self.send(ECS_TARGET + action, ECS_CONTENT_TYPE, body)

    def sfn(self, action: str, params: dict[str, Any]) -> Reply:
        return checked(action, params, self.sfn_raw(action, json.dumps(params).encode()))

    def sfn_ok(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = self.sfn(action, params)
        assert reply.status == 200, (
            f"{action} {_show(params)} -> {reply.status} {reply.body[:500]!r}"
        )
        result: dict[str, Any] = reply.json()
        return result


def _reject_constant(text: str) -> Any:
    raise ValueError(f"non-standard JSON constant {text}")


def _show(params: Any, limit: int = 600) -> str:
    text = params.decode("utf-8", "backslashreplace") if isinstance(params, bytes) else repr(params)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def checked(action: str, request: Any, reply: Reply) -> Reply:
    """``reply``, once it holds to the protocol properties (no 5xx, JSON, ``__type``)."""
    where = f"{action} {_show(request)} -> {reply.status} {reply.body[:500]!r}"
    assert reply.status < 500, f"server error: {where}"
    try:
        document = json.loads(reply.body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise AssertionError(f"response is not standard JSON ({exc}): {where}")
    assert isinstance(document, dict), f"response is not a JSON object: {where}"
    if reply.status >= 400:
        kind = document.get("__type")
        assert isinstance(kind, str) and kind, f"error without __type: {where}"
    return reply


@dataclass
class Ledger:
    """What the server accepted, to check after the restart."""

    pool: fs.Pool = field(default_factory=fs.Pool)
    should_end: set[str] = field(default_factory=set)
    #: execution ARN -> the output its one activity task was acknowledged with
    acked: dict[str, Any] = field(default_factory=dict)
    #: (action, status) -> how many answers; printed, to see what the fuzzer reached
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)

    def summary(self) -> str:
        lines = [f"{action} {status}: {n}" for (action, status), n in sorted(self.answers.items())]
        return "\n".join(lines)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _harvest(ledger: Ledger, action: str, result: dict[str, Any]) -> None:
    """Add what a 200 answer created to the pool; executions of machines that end, to check."""
    kinds = {
        "stateMachineArn": "state_machine",
        "stateMachineVersionArn": "version",
        "stateMachineAliasArn": "alias",
        "activityArn": "activity",
        "executionArn": "execution",
        "mapRunArn": "map_run",
    }
    for key, kind in kinds.items():
        value = result.get(key)
        if isinstance(value, str):
            ledger.pool.add(kind, value)
    execution = result.get("executionArn")
    if action == "StartExecution" and isinstance(execution, str):
        machine = execution.split(":")[6]
        if not machine.startswith("fuzz-act-"):
            ledger.should_end.add(execution)


@pytest.fixture
def fuzz_server(server_factory: Callable[..., MontemapServer]) -> MontemapServer:
    return server_factory()


@pytest.fixture
def ledger(fuzz_server: MontemapServer) -> Ledger:
    """A pool seeded with one of each kind of resource."""
    wire = Wire(fuzz_server)
    book = Ledger()
    activity = wire.sfn_ok("CreateActivity", {"name": _unique("fuzz-seed")})
    book.pool.add("activity", activity["activityArn"])
    machine = wire.sfn_ok(
        "CreateStateMachine",
        {
            "name": _unique("fuzz-seed"),
            "definition": json.dumps(
                {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
            ),
            "roleArn": fs.ROLE_ARN,
            "publish": True,
        },
    )
    _harvest(book, "CreateStateMachine", machine)
    started = wire.sfn_ok("StartExecution", {"stateMachineArn": machine["stateMachineArn"]})
    _harvest(book, "StartExecution", started)
    return book


# --- traffic --------------------------------------------------------------------------------


def walk(service: str, pool: fs.Pool, data: st.DataObject) -> fs.ModelWalk:
    """How members are drawn: all fitting, some hostile, or only the ones that matter."""
    mode = data.draw(st.sampled_from(["hostile", "fitting", "minimal"]), label="members")
    return fs.ModelWalk(service, pool, hostile=mode == "hostile", minimal=mode == "minimal")


def fuzz_operation(wire: Wire, ledger: Ledger, data: st.DataObject) -> None:
    """One request drawn from the Step Functions model, sent as drawn."""
    action = data.draw(st.sampled_from(fs.sfn_operations()), label="action")
    pool = ledger.pool.without("activity") if action == "GetActivityTask" else ledger.pool
    params = data.draw(walk("sfn", pool, data).operation(action), label="params")
    raw = data.draw(st.sampled_from([False, False, False, True]), label="raw surrogates")
    body = fs.encode(params, raw)
    reply = checked(action, body, wire.sfn_raw(action, body))
    ledger.answers[action, reply.status] += 1
    if reply.status == 200:
        _harvest(ledger, action, reply.json())


def fuzz_body(wire: Wire, data: st.DataObject) -> None:
    """A hostile body for any Step Functions operation."""
    action = data.draw(st.sampled_from(fs.sfn_operations()), label="action")
    body = data.draw(fs.pick(fs.HOSTILE_BODIES), label="body")
    checked(action, body, wire.sfn_raw(action, body))


def run_small_machine(wire: Wire, ledger: Ledger, data: st.DataObject) -> None:
    """Create a machine that always ends and start it with a drawn input."""
    definition = data.draw(fs.small_definitions(), label="definition")
    machine = wire.sfn_ok(
        "CreateStateMachine",
        {"name": _unique("fuzz-sm"), "definition": json.dumps(definition), "roleArn": fs.ROLE_ARN},
    )
    _harvest(ledger, "CreateStateMachine", machine)
    text = data.draw(fs.json_texts(), label="input")
    params = {"stateMachineArn": machine["stateMachineArn"], "input": text}
    reply = wire.sfn("StartExecution", params)
    if reply.status == 200:
        _harvest(ledger, "StartExecution", reply.json())


def work_activity_task(wire: Wire, ledger: Ledger, data: st.DataObject) -> None:
    """Start an activity execution, take its task, answer it with a drawn output."""
    activity = wire.sfn_ok("CreateActivity", {"name": _unique("fuzz-act")})["activityArn"]
    ledger.pool.add("activity", activity)
    machine = wire.sfn_ok(
        "CreateStateMachine",
        {
            "name": _unique("fuzz-act"),
            "definition": json.dumps(fs.activity_definition(activity)),
            "roleArn": fs.ROLE_ARN,
        },
    )["stateMachineArn"]
    execution = wire.sfn_ok("StartExecution", {"stateMachineArn": machine})["executionArn"]
    ledger.pool.add("execution", execution)
    task = wire.sfn_ok("GetActivityTask", {"activityArn": activity, "workerName": "fuzz"})
    token = task.get("taskToken")
    assert token, f"GetActivityTask returned no task for {execution}: {task}"
    ledger.pool.tokens.append(token)
    if data.draw(st.booleans(), label="heartbeat"):
        wire.sfn_ok("SendTaskHeartbeat", {"taskToken": token})
    output = data.draw(fs.json_texts(), label="output")
    reply = wire.sfn("SendTaskSuccess", {"taskToken": token, "output": output})
    if reply.status == 200:
        ledger.acked[execution] = json.loads(output)
    else:
        error = data.draw(fs.hostile_strings(), label="error")
        cause = data.draw(fs.hostile_strings(), label="cause")
        failure = {"taskToken": token, "error": error, "cause": cause}
        if wire.sfn("SendTaskFailure", failure).status != 200:
            wire.sfn_ok("SendTaskFailure", {"taskToken": token, "error": "Fuzz.Refused"})
    ledger.should_end.add(execution)
    again = wire.sfn("SendTaskSuccess", {"taskToken": token, "output": "{}"})
    assert again.status != 200, f"a task of {execution} was completed twice"


def burst(wire: Wire, ledger: Ledger, data: st.DataObject) -> None:
    """A hostile request sent together with valid StartExecutions: those must all succeed.

    Requests in flight together share the server's group commit: a bad one must
    fail alone (finding 2 lost 23 of 200 unrelated starts to one lone surrogate).
    """
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    machine = wire.sfn_ok(
        "CreateStateMachine",
        {"name": _unique("fuzz-burst"), "definition": definition, "roleArn": fs.ROLE_ARN},
    )["stateMachineArn"]
    action = data.draw(st.sampled_from(["StartExecution", "CreateStateMachine", "SendTaskFailure"]))
    params = data.draw(walk("sfn", ledger.pool, data).operation(action), label="params")
    bad = fs.encode(params, data.draw(st.booleans(), label="raw surrogates"))
    good = [{"stateMachineArn": machine, "input": json.dumps({"i": i})} for i in range(5)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        hostile = pool.submit(wire.sfn_raw, action, bad)
        replies = list(pool.map(lambda params: wire.sfn("StartExecution", params), good))
        checked(action, bad, hostile.result())
    for reply in replies:
        assert reply.status == 200, f"a valid StartExecution beside {action} {_show(bad)}: {reply}"
        _harvest(ledger, "StartExecution", reply.json())


def fuzz_ecs(wire: Wire, ledger: Ledger, data: st.DataObject) -> None:
    """One ECS request drawn from the model, or a hostile body."""
    action = data.draw(st.sampled_from(fs.ecs_operations()), label="action")
    if data.draw(st.integers(min_value=0, max_value=5), label="hostile body?") == 0:
        body = data.draw(fs.pick(fs.HOSTILE_BODIES), label="body")
    else:
        params = data.draw(walk("ecs", ledger.pool, data).operation(action), label="params")
        if action == "RunTask" and isinstance(params, dict):
            # count is optional (1 when absent): always draw one, and none of those runs.
            params["count"] = data.draw(st.sampled_from(fs.DESIRED_COUNTS), label="count")
        raw = data.draw(st.sampled_from([False, False, False, True]), label="raw surrogates")
        body = fs.encode(params, raw)
    reply = checked(action, body, wire.ecs_raw(action, body))
    ledger.answers[action, reply.status] += 1
    if reply.status == 200:
        _harvest_ecs(ledger.pool, reply.json())


def _harvest_ecs(pool: fs.Pool, result: dict[str, Any]) -> None:
    for key, kind, name_key in (
        ("cluster", "cluster", "clusterName"),
        ("service", "service", "serviceName"),
        ("taskDefinition", "task_definition", "family"),
    ):
        item = result.get(key)
        if isinstance(item, dict):
            for field_name in (name_key, f"{key}Arn"):
                value = item.get(field_name)
                if isinstance(value, str):
                    pool.add(kind, value)
            if kind == "task_definition" and isinstance(item.get("family"), str):
                pool.add("family", item["family"])


# --- after the restart ----------------------------------------------------------------------


def history(wire: Wire, execution: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
    while True:
        page = wire.sfn_ok("GetExecutionHistory", params)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def check_after_restart(wire: Wire, ledger: Ledger) -> None:
    def all_ended() -> bool:
        running = []
        for execution in sorted(ledger.should_end):
            status = wire.sfn_ok("DescribeExecution", {"executionArn": execution})["status"]
            if status not in TERMINAL:
                running.append(execution)
        assert not running, f"{len(running)} executions still RUNNING: {running[:5]}"
        return True

    eventually(all_ended, timeout=END_DEADLINE, what="every execution that should end")
    for execution, output in ledger.acked.items():
        results = [
            event["activitySucceededEventDetails"]
            for event in history(wire, execution)
            if event["type"] == "ActivitySucceeded"
        ]
        assert len(results) == 1, f"{execution}: {len(results)} ActivitySucceeded events"
        assert json.loads(results[0]["output"]) == output, f"{execution}: output differs"
        described = wire.sfn_ok("DescribeExecution", {"executionArn": execution})
        assert described["status"] == "SUCCEEDED", f"{execution}: {described['status']}"
        assert json.loads(described["output"]) == output, f"{execution}: execution output differs"


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.timeout(110)
def test_stepfunctions_traffic_survives_fuzzing_and_a_crash(
    fuzz_server: MontemapServer, ledger: Ledger
) -> None:
    wire = Wire(fuzz_server)

    @fuzz_settings(examples=400)
    @given(st.data())
    def traffic(data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(["operation"] * 6 + ["body", "run", "run", "work", "burst"]),
            label="kind",
        )
        if kind == "operation":
            fuzz_operation(wire, ledger, data)
        elif kind == "body":
            fuzz_body(wire, data)
        elif kind == "run":
            run_small_machine(wire, ledger, data)
        elif kind == "burst":
            burst(wire, ledger, data)
        else:
            work_activity_task(wire, ledger, data)

    traffic()
    print(ledger.summary())
    assert ledger.acked, "no SendTaskSuccess was acknowledged: the fuzzer tested nothing durable"
    assert ledger.should_end, "no execution was started"
    fuzz_server.kill()
    fuzz_server.start()
    check_after_restart(wire, ledger)


@pytest.mark.timeout(110)
def test_ecs_protocol_survives_fuzzing_and_a_crash(fuzz_server: MontemapServer) -> None:
    wire = Wire(fuzz_server)
    book = Ledger()
    pool = book.pool
    for name in ("fuzz-kept", "fuzz"):
        body = json.dumps({"clusterName": name}).encode()
        created = checked("CreateCluster", body, wire.ecs_raw("CreateCluster", body))
        assert created.status == 200, created.body
    pool.add("cluster", "fuzz")  # the fuzzer may delete it; "fuzz-kept" it never names
    pool.add("cluster", "default")
    pool.add("task_definition", "small")

    @fuzz_settings(examples=200)
    @given(st.data())
    def traffic(data: st.DataObject) -> None:
        fuzz_ecs(wire, book, data)

    traffic()
    print(book.summary())
    fuzz_server.kill()
    fuzz_server.start()
    reply = checked("ListClusters", {}, wire.ecs_raw("ListClusters", b"{}"))
    assert reply.status == 200
    clusters = reply.json()["clusterArns"]
    assert any(arn.endswith("/fuzz-kept") for arn in clusters), clusters
    for cluster in clusters:  # no drawn desired count may start a task: each is 0 or refused
        body = json.dumps({"cluster": cluster}).encode()
        tasks = checked("ListTasks", body, wire.ecs_raw("ListTasks", body))
        assert tasks.status == 200 and tasks.json()["taskArns"] == [], (cluster, tasks.body)


# --- failures the fuzzer found, kept as regression tests ------------------------------------


def test_fuzz_found_tag_without_a_key_is_not_a_server_error(
    fuzz_server: MontemapServer, ledger: Ledger
) -> None:
    """Found by the fuzzer: TagResource / CreateStateMachine / CreateActivity with ``tags: [{}]``."""
    wire = Wire(fuzz_server)
    machine = ledger.pool.get("state_machine")[0]
    requests: list[tuple[str, dict[str, Any]]] = [
        ("TagResource", {"resourceArn": machine, "tags": [{}]}),
        ("TagResource", {"resourceArn": machine, "tags": [{"value": "v"}]}),
        ("CreateActivity", {"name": _unique("fuzz-tags"), "tags": [{"value": "v"}]}),
    ]
    for action, params in requests:
        reply = checked(action, params, wire.sfn_raw(action, json.dumps(params).encode()))
        assert reply.status == 400
        assert reply.json()["__type"].endswith("ValidationException")
