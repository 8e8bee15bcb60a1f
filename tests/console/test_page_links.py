"""Every console link on an execution's page opens a page: a Distributed Map's child
execution runs a Map state (``stateMachine:<machine>/<Map state>``), which has no
state machine page, so its page links to the top-level parent's state machine."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from montemap.testing import wait_for_execution
from tests.console.helpers import Http, create_machine, q


def _distributed(name: str, inner: dict[str, Any], items: str) -> dict[str, Any]:
    return {
        "Type": "Map",
        "ItemsPath": items,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": name,
            "States": {name: inner},
        },
        "End": True,
    }


#: A Distributed Map whose child runs a Distributed Map of its own.
NESTED = {
    "StartAt": "Outer",
    "States": {
        "Outer": _distributed(
            "Middle", _distributed("Leaf", {"Type": "Pass", "End": True}, "$.inner"), "$.items"
        )
    },
}


@pytest.fixture(scope="module")
def run(sfn: Any) -> dict[str, Any]:
    machine = create_machine(sfn, "links-nested", NESTED)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"items": [{"inner": [1, 2]}]}')[
        "executionArn"
    ]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    lineage = [arn]
    for _ in range(2):  # its child, then the child's child
        (map_run,) = sfn.list_map_runs(executionArn=lineage[-1])["mapRuns"]
        children = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]
        lineage.append(children[0]["executionArn"])
    return {"machine": machine, "lineage": lineage}


def _links(body: str) -> set[str]:
    return {html.unescape(link) for link in re.findall(r'href="(/console/[^"#]*)', body)}


def test_every_link_of_parent_child_and_grandchild_opens(http: Http, run: dict[str, Any]) -> None:
    for execution in run["lineage"]:
        page = http.get("/console/execution", arn=execution)
        assert page.status == 200
        assert f"/console/state-machine?arn={q(run['machine'])}" in page.body
        for link in _links(page.body):
            assert http.get(link).status == 200, (execution, link)


def test_only_a_top_level_execution_offers_compare(http: Http, run: dict[str, Any]) -> None:
    top, child, _ = run["lineage"]
    assert "#compare-form" in http.get("/console/execution", arn=top).body
    assert "#compare-form" not in http.get("/console/execution", arn=child).body
