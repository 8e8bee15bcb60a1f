"""The console's pages and live JSON against a real server running real jobs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from montemap.testing import MontemapServer, eventually, wait_for_execution
from tests.console.helpers import (
    HOSTILE,
    INLINE_MAP,
    SLOW_JOB,
    SMALL_JOB,
    Http,
    create_machine,
    hostile_job,
    q,
)


@pytest.fixture(scope="module")
def small_run(sfn: Any) -> dict[str, Any]:
    """One finished run of the small job."""
    machine = create_machine(sfn, "pages-small", SMALL_JOB)
    arn = sfn.start_execution(stateMachineArn=machine, name="run-1", input='{"who": "me"}')[
        "executionArn"
    ]
    return {"machine": machine, "arn": arn, "result": wait_for_execution(sfn, arn)}


def test_home_lists_machines_and_filters_executions(http: Http, small_run: dict[str, Any]) -> None:
    page = http.get("/console/")
    assert page.status == 200 and "pages-small" in page.body and "run-1" in page.body
    assert "run-1" in http.get("/console/", status="SUCCEEDED").body
    assert "run-1" not in http.get("/console/", status="FAILED").body
    assert http.get("/console/", status="BOGUS").status == 400


def test_state_machine_page_prefills_the_last_input(http: Http, small_run: dict[str, Any]) -> None:
    page = http.get("/console/state-machine", arn=small_run["machine"])
    assert page.status == 200
    assert 'class="graph"' in page.body and 'data-state="Distributed"' in page.body
    assert "&#34;who&#34;: &#34;me&#34;" in page.body  # the newest execution's input
    assert 'name="csrf_token"' in page.body


def test_execution_page_and_live_json(http: Http, small_run: dict[str, Any]) -> None:
    arn = small_run["arn"]
    page = http.get("/console/execution", arn=arn)
    assert page.status == 200 and "SUCCEEDED" in page.body and "Results" in page.body
    assert 'id="stop-form"' not in page.body  # nothing to stop
    live = http.get("/console/api/execution", arn=arn, after="0").json()
    assert live["execution"]["status"] == "SUCCEEDED"
    assert live["states"]["Double"] == {
        "status": "succeeded",
        "entered": 5,
        "exited": 5,
        "failures": 0,
    }
    assert live["events"][0]["type"] == "ExecutionStarted"
    last = live["events"][-1]["id"]
    assert live["events"][-1]["type"] == "ExecutionSucceeded" and not live["more"]
    (run,) = live["mapRuns"]
    assert run["items"]["succeeded"] == 5 and run["batches"]["succeeded"] == 3
    again = http.get("/console/api/execution", arn=arn, after=str(last)).json()
    assert again["events"] == []  # only what is new
    assert http.get("/console/api/execution", arn=arn, after="-1").status == 400
    fragment = http.get("/console/execution/results", arn=arn)
    assert fragment.status == 200 and "results-panel" in fragment.body


def test_map_run_page_and_json(http: Http, small_run: dict[str, Any]) -> None:
    live = http.get("/console/api/execution", arn=small_run["arn"]).json()
    run_arn = live["mapRuns"][0]["arn"]
    page = http.get("/console/map-run", arn=run_arn)
    assert page.status == 200 and "No failed batches" in page.body
    data = http.get("/console/api/map-run", arn=run_arn).json()
    assert data["status"] == "SUCCEEDED" and data["items"]["total"] == 5
    assert data["failures"] == [] and data["itemsPerSecond"] > 0


def test_unknown_things_are_404_and_bad_requests_400(http: Http) -> None:
    missing = "arn:aws:states:us-east-1:123456789012:execution:nope:nope"
    reply = http.get("/console/execution", arn=missing)
    assert reply.status == 404 and "ExecutionDoesNotExist" in reply.body
    assert http.get("/console/execution", arn="garbage").status == 400
    assert http.get("/console/execution").status == 400
    assert (
        http.get("/console/api/execution", arn=missing)
        .json()["error"]
        .startswith("ExecutionDoesNotExist")
    )
    assert http.get("/console/static/../app.py").status == 404
    assert http.get("/console/static/console.js").status == 200


def test_start_and_stop_from_the_console(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "pages-slow", SLOW_JOB)
    reply = http.post(
        "/console/start", {"arn": machine, "name": "from-console", "input": '{"a": 1}'}
    )
    assert reply.status == 303
    arn = f"{machine.replace(':stateMachine:', ':execution:')}:from-console"
    assert reply.headers["location"] == f"/console/execution?arn={q(arn)}"
    assert sfn.describe_execution(executionArn=arn)["input"] == '{"a": 1}'
    assert 'id="stop-form"' in http.get("/console/execution", arn=arn).body
    assert http.post("/console/stop", {"arn": arn}).status == 303
    stopped = sfn.describe_execution(executionArn=arn)
    assert stopped["status"] == "ABORTED" and stopped["error"] == "Console.Stopped"


def test_start_errors_are_shown_on_the_form(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "pages-errors", SLOW_JOB)
    reply = http.post("/console/start", {"arn": machine, "input": "{not json"})
    assert reply.status == 400 and "InvalidExecutionInput" in reply.body
    assert "{not json" in reply.body  # the input is kept for correction
    reply = http.post("/console/start", {"arn": machine, "name": "bad name<>", "input": "{}"})
    assert reply.status == 400 and "InvalidName" in reply.body and "bad name&lt;&gt;" in reply.body
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_hostile_values_are_escaped_everywhere(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "pages-hostile", hostile_job())
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"x": HOSTILE}))[
        "executionArn"
    ]
    assert wait_for_execution(sfn, arn)["status"] == "FAILED"
    for page in (
        http.get("/console/", status="FAILED"),
        http.get("/console/state-machine", arn=machine),
        http.get("/console/execution", arn=arn),
    ):
        assert page.status == 200
        assert "<script>window.__pwned" not in page.body
        assert "<img src=x" not in page.body
    body = http.get("/console/execution", arn=arn).body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body  # the error, as text
    data = http.get("/console/api/execution", arn=arn).json()  # JSON: the page's script escapes
    assert data["execution"]["cause"] == HOSTILE


def test_compare_two_runs(http: Http, sfn: Any, small_run: dict[str, Any]) -> None:
    other = sfn.start_execution(stateMachineArn=small_run["machine"], name="run-2")["executionArn"]
    wait_for_execution(sfn, other)
    page = http.get("/console/compare", a=small_run["arn"], b=other)
    assert page.status == 200
    for text in ("run-1", "run-2", "Duration", "Distributed Map phase", "Pause"):
        assert text in page.body
    assert re.search(r"[+-]\d+\.\d%", page.body)
    assert http.get("/console/compare", a=small_run["arn"]).status == 400


def test_services_switch_task_definition_and_count(
    http: Http, console_server: MontemapServer
) -> None:
    reply = http.post(
        "/console/services/create",
        {
            "cluster": "default",
            "serviceName": "workers",
            "taskDefinition": "small",
            "desiredCount": "0",
        },
    )
    assert reply.status == 303
    page = http.get("/console/services")
    assert page.status == 200 and 'data-service="default/workers"' in page.body
    assert "small:1" in page.body
    reply = http.post(
        "/console/services/update",
        {
            "cluster": "default",
            "service": "workers",
            "taskDefinition": "large:1",
            "desiredCount": "0",
        },
    )
    assert reply.status == 303
    ecs = console_server.client("ecs")
    try:
        service = ecs.describe_services(cluster="default", services=["workers"])["services"][0]
    finally:
        ecs.close()
    assert service["taskDefinition"].endswith("task-definition/large:1")
    assert service["desiredCount"] == 0

    def listed_workers() -> dict[str, Any]:
        (workers,) = http.get("/console/api/services").json()["clusters"][0]["services"]
        assert workers["taskDefinition"] == "large:1"
        return dict(workers)

    eventually(listed_workers, timeout=20, what="the console listing large:1")
    bad = http.post(
        "/console/services/update",
        {"cluster": "default", "service": "workers", "desiredCount": "-3"},
    )
    assert bad.status == 400 and "whole number" in bad.body
    missing = http.post(
        "/console/services/update",
        {"cluster": "default", "service": "nope", "desiredCount": "1"},
    )
    assert missing.status == 400 and "ServiceNotFoundException" in missing.body


def test_long_histories_come_in_pages(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "pages-many", INLINE_MAP)
    arn = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": list(range(150))})
    )["executionArn"]
    wait_for_execution(sfn, arn)
    first = http.get("/console/api/execution", arn=arn, after="0").json()
    assert len(first["events"]) == 500 and first["more"]
    rest = http.get("/console/api/execution", arn=arn, after=str(first["events"][-1]["id"])).json()
    assert rest["events"][0]["id"] == 501 and not rest["more"]
    assert first["states"]["Step"]["entered"] == 150


def test_console_without_slash_and_version_arns(http: Http, sfn: Any) -> None:
    assert http.get("/console").status in (301, 302, 307, 308)
    machine = sfn.create_state_machine(
        name="pages-versioned",
        definition=json.dumps(SLOW_JOB),
        roleArn="arn:aws:iam::123456789012:role/x",
        publish=True,
    )
    version = machine["stateMachineVersionArn"]
    page = http.get("/console/state-machine", arn=version)
    assert page.status == 200 and "pages-versioned" in page.body
