"""ListExecutions given a state machine, a version or an alias ARN, as AWS lists them.

A state machine's ARN lists all its executions, those started on its versions and
aliases included; a version's, those started on it and on aliases that picked it; an
alias's, those started on it. Each entry names the state machine in
``stateMachineArn`` and the version and alias it ran through.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from montemap.testing import wait_for_execution

from .helpers import ROLE_ARN, unique


def _definition(result: int) -> str:
    return json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": True}}}
    )


@pytest.fixture(scope="module")
def family(shared_sfn_client: Any) -> dict[str, Any]:
    """A machine with two versions, an alias on version 1, a machine whose name extends
    the first one's, and executions started on each ARN (oldest first)."""
    client = shared_sfn_client
    name = unique("fam")
    arn = client.create_state_machine(
        name=name, definition=_definition(1), roleArn=ROLE_ARN, publish=True
    )["stateMachineArn"]
    client.update_state_machine(stateMachineArn=arn, definition=_definition(2), publish=True)
    v1, v2 = arn + ":1", arn + ":2"
    alias = client.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )["stateMachineAliasArn"]
    # "<name>-x" sorts between "<name>" and "<name>:..." and is another machine
    other = client.create_state_machine(
        name=name + "-x", definition=_definition(3), roleArn=ROLE_ARN
    )["stateMachineArn"]
    started = {}
    for label, target in [
        ("plain", arn), ("on-v1", v1), ("on-alias", alias), ("on-v2", v2),
        ("other", other), ("plain-2", arn), ("on-alias-2", alias),
    ]:  # fmt: skip
        execution = client.start_execution(stateMachineArn=target, name=label)["executionArn"]
        wait_for_execution(client, execution)
        started[label] = execution
    return {"arn": arn, "v1": v1, "v2": v2, "alias": alias, "executions": started}


def _names(client: Any, arn: str, **more: Any) -> list[str]:
    return [e["name"] for e in client.list_executions(stateMachineArn=arn, **more)["executions"]]


def test_a_state_machine_lists_its_versions_and_aliases_executions(
    shared_sfn_client: Any, family: dict[str, Any]
) -> None:
    names = _names(shared_sfn_client, family["arn"])
    assert names == ["on-alias-2", "plain-2", "on-v2", "on-alias", "on-v1", "plain"]


def test_a_version_lists_its_own_and_its_aliases_executions(
    shared_sfn_client: Any, family: dict[str, Any]
) -> None:
    assert _names(shared_sfn_client, family["v1"]) == ["on-alias-2", "on-alias", "on-v1"]
    assert _names(shared_sfn_client, family["v2"]) == ["on-v2"]
    assert _names(shared_sfn_client, family["alias"]) == ["on-alias-2", "on-alias"]


def test_each_entry_names_machine_version_and_alias(
    shared_sfn_client: Any, family: dict[str, Any]
) -> None:
    listed = shared_sfn_client.list_executions(stateMachineArn=family["arn"])["executions"]
    by_name = {e["name"]: e for e in listed}
    assert {e["stateMachineArn"] for e in listed} == {family["arn"]}
    assert "stateMachineVersionArn" not in by_name["plain"]
    assert "stateMachineAliasArn" not in by_name["plain"]
    assert by_name["on-v2"]["stateMachineVersionArn"] == family["v2"]
    assert "stateMachineAliasArn" not in by_name["on-v2"]
    assert by_name["on-alias"]["stateMachineVersionArn"] == family["v1"]
    assert by_name["on-alias"]["stateMachineAliasArn"] == family["alias"]


@pytest.mark.parametrize("which", ["arn", "v1"])
def test_pages_of_one_hold_the_whole_listing_once(
    shared_sfn_client: Any, family: dict[str, Any], which: str
) -> None:
    whole = _names(shared_sfn_client, family[which])
    pages = shared_sfn_client.get_paginator("list_executions").paginate(
        stateMachineArn=family[which], PaginationConfig={"PageSize": 1}
    )
    assert [e["name"] for page in pages for e in page["executions"]] == whole


def test_a_status_filter_applies_to_every_version_and_alias(
    shared_sfn_client: Any, family: dict[str, Any]
) -> None:
    assert _names(shared_sfn_client, family["v1"], statusFilter="SUCCEEDED", maxResults=2) == [
        "on-alias-2",
        "on-alias",
    ]
    assert _names(shared_sfn_client, family["arn"], statusFilter="FAILED") == []


def test_pending_redrive_lists_only_a_map_runs_children(
    shared_sfn_client: Any, family: dict[str, Any]
) -> None:
    """AWS: "If you provide a stateMachineArn and a PENDING_REDRIVE statusFilter, the API
    returns a validation exception"."""
    for arn in (family["arn"], family["v1"], family["alias"]):
        with pytest.raises(shared_sfn_client.exceptions.ValidationException):
            shared_sfn_client.list_executions(stateMachineArn=arn, statusFilter="PENDING_REDRIVE")
