"""State machine versions and aliases in the console: each has a page listing the
executions started on it, and its start form starts it as StartExecution does."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from montemap.testing import wait_for_execution
from tests.console.helpers import ROLE_ARN, Http, create_machine, q

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def published(sfn: Any) -> dict[str, str]:
    created = sfn.create_state_machine(
        name="qualified", definition=json.dumps(PASS), roleArn=ROLE_ARN, publish=True
    )
    version = created["stateMachineVersionArn"]
    alias = sfn.create_state_machine_alias(
        name="prod", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}]
    )["stateMachineAliasArn"]
    on_alias = sfn.start_execution(stateMachineArn=alias, name="via-alias")["executionArn"]
    wait_for_execution(sfn, on_alias)
    return {
        "machine": created["stateMachineArn"],
        "version": version,
        "alias": alias,
        "on_alias": on_alias,
    }


def _started(reply: Any) -> str:
    assert reply.status == 303, reply.body
    arn: str = parse_qs(urlsplit(reply.headers["location"]).query)["arn"][0]
    return arn


def test_an_alias_has_a_page_with_its_executions(http: Http, published: dict[str, str]) -> None:
    page = http.get("/console/state-machine", arn=published["alias"])
    assert page.status == 200, page.body
    assert "qualified:prod" in page.body and "via-alias" in page.body
    assert f'value="{published["alias"]}"' in page.body  # the start form starts the alias
    assert f"/console/state-machine?arn={q(published['version'])}" in page.body  # routing


def test_an_alias_execution_links_to_its_alias_page(http: Http, published: dict[str, str]) -> None:
    page = http.get("/console/execution", arn=published["on_alias"])
    link = f"/console/state-machine?arn={q(published['alias'])}"
    assert page.status == 200 and link in page.body
    assert http.get(link).status == 200


def test_the_machine_page_links_its_versions_and_aliases(
    http: Http, published: dict[str, str]
) -> None:
    page = http.get("/console/state-machine", arn=published["machine"])
    assert page.status == 200
    assert f"/console/state-machine?arn={q(published['version'])}" in page.body
    assert f"/console/state-machine?arn={q(published['alias'])}" in page.body


def test_starting_a_version_and_an_alias_from_their_pages(
    http: Http, sfn: Any, published: dict[str, str]
) -> None:
    on_version = _started(http.post("/console/start", {"arn": published["version"], "input": "{}"}))
    described = sfn.describe_execution(executionArn=on_version)
    assert described["stateMachineVersionArn"] == published["version"]
    on_alias = _started(http.post("/console/start", {"arn": published["alias"], "input": "{}"}))
    described = sfn.describe_execution(executionArn=on_alias)
    assert described["stateMachineAliasArn"] == published["alias"]
    assert described["stateMachineVersionArn"] == published["version"]
    listed = sfn.list_executions(stateMachineArn=published["alias"])["executions"]
    assert on_alias in [e["executionArn"] for e in listed]


def test_an_express_start_gets_an_id_of_its_own(http: Http, sfn: Any) -> None:
    machine = sfn.create_state_machine(
        name="console-express", definition=json.dumps(PASS), roleArn=ROLE_ARN, type="EXPRESS"
    )["stateMachineArn"]
    form = {"arn": machine, "input": "{}", "name": "same"}
    first = _started(http.post("/console/start", form))
    second = _started(http.post("/console/start", form))
    assert first != second  # as on AWS: express executions are not idempotent by name
    assert first.split(":")[5:8] == ["express", "console-express", "same"]
    assert http.get("/console/execution", arn=second).status == 200


def test_an_unknown_alias_is_404(http: Http, published: dict[str, str]) -> None:
    missing = published["machine"] + ":nope"
    assert http.get("/console/state-machine", arn=missing).status == 404
    assert http.post("/console/start", {"arn": missing, "input": "{}"}).status == 404


def test_unversioned_machine_page_is_unchanged(http: Http, sfn: Any) -> None:
    machine = create_machine(sfn, "plain-machine", PASS)
    page = http.get("/console/state-machine", arn=machine)
    assert page.status == 200 and 'id="qualifiers"' not in page.body
