"""StartSyncExecution and the state machine version actions, through boto3 on a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing import wait_for_execution
from montemap.testing.server import MontemapServer

from .helpers import PASS_DEFINITION, machine

FAIL_DEFINITION = json.dumps(
    {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "bad"}}}
)
ECHO_DEFINITION = json.dumps(
    {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"got.$": "$"}, "End": True}}}
)


@pytest.fixture(scope="module")
def sync_client(shared_montemap_server: MontemapServer) -> Iterator[Any]:
    """StartSyncExecution's model asks for the host prefix ``sync-``, which no
    loopback address takes: clients of a local endpoint turn it off."""
    client = shared_montemap_server.client(inject_host_prefix=False)
    yield client
    client.close()


# StartSyncExecution ------------------------------------------------------------------


def test_sync_execution_succeeds_with_output(sync_client: Any) -> None:
    arn = machine(sync_client, ECHO_DEFINITION, type="EXPRESS")
    out = sync_client.start_sync_execution(stateMachineArn=arn, name="run-1", input='{"a":1}')
    assert out["status"] == "SUCCEEDED"
    assert json.loads(out["output"]) == {"got": {"a": 1}}
    assert out["input"] == '{"a":1}'
    assert out["inputDetails"] == {"included": True}
    assert out["outputDetails"] == {"included": True}
    assert out["stateMachineArn"] == arn
    assert out["name"] == "run-1"
    assert out["executionArn"].startswith("arn:aws:states:us-east-1:123456789012:express:")
    assert out["executionArn"].endswith(":run-1:" + out["executionArn"].rsplit(":", 1)[1])
    assert out["stopDate"] >= out["startDate"]
    assert set(out["billingDetails"]) == {"billedMemoryUsedInMB", "billedDurationInMilliseconds"}
    described = sync_client.describe_execution(executionArn=out["executionArn"])
    assert (described["status"], described["output"]) == ("SUCCEEDED", out["output"])
    events = sync_client.get_execution_history(executionArn=out["executionArn"])["events"]
    assert events[-1]["type"] == "ExecutionSucceeded"


def test_sync_execution_failure_and_metadata_only(sync_client: Any) -> None:
    arn = machine(sync_client, FAIL_DEFINITION, type="EXPRESS")
    out = sync_client.start_sync_execution(stateMachineArn=arn, includedData="METADATA_ONLY")
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "Oops", "bad")
    assert "input" not in out and "output" not in out
    assert out["inputDetails"] == {"included": False}


def test_sync_execution_refuses_standard(sync_client: Any) -> None:
    arn = machine(sync_client)
    with pytest.raises(sync_client.exceptions.StateMachineTypeNotSupported):
        sync_client.start_sync_execution(stateMachineArn=arn)
    with pytest.raises(sync_client.exceptions.StateMachineDoesNotExist):
        sync_client.start_sync_execution(stateMachineArn=arn + "-missing")
    express = machine(sync_client, type="EXPRESS")
    with pytest.raises(sync_client.exceptions.InvalidExecutionInput):
        sync_client.start_sync_execution(stateMachineArn=express, input="{not json")


def test_sync_execution_names_may_repeat(sync_client: Any) -> None:
    """Express executions are not idempotent by name: each call runs anew."""
    arn = machine(sync_client, ECHO_DEFINITION, type="EXPRESS")
    first = sync_client.start_sync_execution(stateMachineArn=arn, name="same", input='{"n":1}')
    second = sync_client.start_sync_execution(stateMachineArn=arn, name="same", input='{"n":2}')
    assert json.loads(second["output"]) == {"got": {"n": 2}}
    assert first["executionArn"] != second["executionArn"]


def test_express_start_execution_names_may_repeat(sync_client: Any) -> None:
    arn = machine(sync_client, type="EXPRESS")
    first = sync_client.start_execution(stateMachineArn=arn, name="again")["executionArn"]
    second = sync_client.start_execution(stateMachineArn=arn, name="again")["executionArn"]
    assert first != second
    assert first.rsplit(":", 2)[1] == "again"


# Versions ----------------------------------------------------------------------------


def test_publish_version_is_idempotent_per_revision(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client)
    first = client.publish_state_machine_version(stateMachineArn=arn, description="one")
    assert first["stateMachineVersionArn"] == arn + ":1"
    again = client.publish_state_machine_version(stateMachineArn=arn)
    assert again["stateMachineVersionArn"] == arn + ":1"
    assert again["creationDate"] == first["creationDate"]
    revision = client.update_state_machine(stateMachineArn=arn, definition=FAIL_DEFINITION)[
        "revisionId"
    ]
    with pytest.raises(client.exceptions.ConflictException):
        client.publish_state_machine_version(stateMachineArn=arn, revisionId="stale")
    second = client.publish_state_machine_version(stateMachineArn=arn, revisionId=revision)
    assert second["stateMachineVersionArn"] == arn + ":2"
    described = client.describe_state_machine(stateMachineArn=arn + ":2")
    assert described["definition"] == FAIL_DEFINITION
    assert described["revisionId"] == revision
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.publish_state_machine_version(stateMachineArn=machine(client) + "x")


def test_publish_initial_revision(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client)
    out = client.publish_state_machine_version(stateMachineArn=arn, revisionId="INITIAL")
    assert out["stateMachineVersionArn"] == arn + ":1"
    client.update_state_machine(stateMachineArn=arn, definition=FAIL_DEFINITION)
    with pytest.raises(client.exceptions.ConflictException):
        client.publish_state_machine_version(stateMachineArn=arn, revisionId="INITIAL")


def test_list_and_delete_versions(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client, publish=True)
    for definition in (FAIL_DEFINITION, ECHO_DEFINITION):
        client.update_state_machine(stateMachineArn=arn, definition=definition, publish=True)
    listed = client.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [f"{arn}:{n}" for n in (3, 2, 1)]
    assert all("creationDate" in v for v in listed)
    page = client.list_state_machine_versions(stateMachineArn=arn, maxResults=2)
    assert len(page["stateMachineVersions"]) == 2
    rest = client.list_state_machine_versions(stateMachineArn=arn, nextToken=page["nextToken"])
    assert [v["stateMachineVersionArn"] for v in rest["stateMachineVersions"]] == [arn + ":1"]
    assert "nextToken" not in rest

    client.delete_state_machine_version(stateMachineVersionArn=arn + ":3")
    client.delete_state_machine_version(stateMachineVersionArn=arn + ":3")  # idempotent
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.describe_state_machine(stateMachineArn=arn + ":3")
    listed = client.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [f"{arn}:{n}" for n in (2, 1)]
    # version numbers are never used again
    client.update_state_machine(stateMachineArn=arn, definition=PASS_DEFINITION)
    out = client.publish_state_machine_version(stateMachineArn=arn)
    assert out["stateMachineVersionArn"] == arn + ":4"
    with pytest.raises(client.exceptions.ValidationException):
        client.delete_state_machine_version(stateMachineVersionArn=arn)


def test_execution_of_a_version_names_machine_and_version(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client, publish=True)
    version = arn + ":1"
    execution = client.start_execution(stateMachineArn=version)["executionArn"]
    described = wait_for_execution(client, execution)
    assert described["stateMachineArn"] == arn
    assert described["stateMachineVersionArn"] == version
    listed = client.list_executions(stateMachineArn=version)["executions"]
    assert [e["executionArn"] for e in listed] == [execution]
    assert listed[0]["stateMachineVersionArn"] == version
    assert listed[0]["stateMachineArn"] == arn
    started = client.get_execution_history(executionArn=execution)["events"][0]
    assert started["executionStartedEventDetails"]["stateMachineVersionArn"] == version


# Aliases -----------------------------------------------------------------------------


def versions(client: Any, count: int = 2) -> tuple[str, list[str]]:
    """A state machine with ``count`` published versions (each its own definition)."""
    arn = machine(client)
    published = []
    for n in range(count):
        definition = json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": n + 1, "End": True}}}
        )
        client.update_state_machine(stateMachineArn=arn, definition=definition)
        out = client.publish_state_machine_version(stateMachineArn=arn)
        published.append(out["stateMachineVersionArn"])
    return arn, published


def test_alias_lifecycle(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn, (v1, v2) = versions(client)
    routing = [{"stateMachineVersionArn": v1, "weight": 100}]
    created = client.create_state_machine_alias(
        name="PROD", description="live", routingConfiguration=routing
    )
    alias = created["stateMachineAliasArn"]
    assert alias == arn + ":PROD"
    # the same request again is idempotent; a different one conflicts
    again = client.create_state_machine_alias(
        name="PROD", description="live", routingConfiguration=routing
    )
    assert again["stateMachineAliasArn"] == alias
    with pytest.raises(client.exceptions.ConflictException):
        client.create_state_machine_alias(
            name="PROD", routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}]
        )
    described = client.describe_state_machine_alias(stateMachineAliasArn=alias)
    assert described["name"] == "PROD"
    assert described["description"] == "live"
    assert described["routingConfiguration"] == routing
    assert "creationDate" in described

    listed = client.list_state_machine_aliases(stateMachineArn=arn)["stateMachineAliases"]
    assert [a["stateMachineAliasArn"] for a in listed] == [alias]
    # given a version, the aliases that route to it
    by_version = client.list_state_machine_aliases(stateMachineArn=v1)["stateMachineAliases"]
    assert [a["stateMachineAliasArn"] for a in by_version] == [alias]
    assert client.list_state_machine_aliases(stateMachineArn=v2)["stateMachineAliases"] == []

    execution = client.start_execution(stateMachineArn=alias)["executionArn"]
    done = wait_for_execution(client, execution)
    assert done["output"] == "1"
    assert done["stateMachineArn"] == arn
    assert done["stateMachineAliasArn"] == alias
    assert done["stateMachineVersionArn"] == v1
    started = client.get_execution_history(executionArn=execution)["events"][0]
    details = started["executionStartedEventDetails"]
    assert (details["stateMachineAliasArn"], details["stateMachineVersionArn"]) == (alias, v1)
    listed_runs = client.list_executions(stateMachineArn=alias)["executions"]
    assert [e["executionArn"] for e in listed_runs] == [execution]

    # a version an alias routes to cannot be deleted
    with pytest.raises(client.exceptions.ConflictException):
        client.delete_state_machine_version(stateMachineVersionArn=v1)

    updated = client.update_state_machine_alias(
        stateMachineAliasArn=alias,
        routingConfiguration=[
            {"stateMachineVersionArn": v1, "weight": 0},
            {"stateMachineVersionArn": v2, "weight": 100},
        ],
    )
    assert "updateDate" in updated
    execution = client.start_execution(stateMachineArn=alias)["executionArn"]
    assert wait_for_execution(client, execution)["output"] == "2"
    assert client.describe_state_machine_alias(stateMachineAliasArn=alias)["description"] == (
        "live"
    )

    client.delete_state_machine_alias(stateMachineAliasArn=alias)
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_state_machine_alias(stateMachineAliasArn=alias)
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.start_execution(stateMachineArn=alias)
    client.delete_state_machine_version(stateMachineVersionArn=v1)  # no longer routed to


def test_alias_routing_is_checked(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn, (v1, v2) = versions(client)
    _, (other,) = versions(client, 1)
    bad_routings = [
        [
            {"stateMachineVersionArn": v1, "weight": 60},
            {"stateMachineVersionArn": v2, "weight": 30},
        ],
        [
            {"stateMachineVersionArn": v1, "weight": 50},
            {"stateMachineVersionArn": v1, "weight": 50},
        ],
        [
            {"stateMachineVersionArn": v1, "weight": 50},
            {"stateMachineVersionArn": other, "weight": 50},
        ],
        [{"stateMachineVersionArn": arn, "weight": 100}],
    ]
    for routing in bad_routings:
        with pytest.raises(client.exceptions.ValidationException):
            client.create_state_machine_alias(name="A", routingConfiguration=routing)
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.create_state_machine_alias(
            name="A", routingConfiguration=[{"stateMachineVersionArn": arn + ":99", "weight": 100}]
        )
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_state_machine_alias(stateMachineAliasArn=arn + ":nope")


def test_alias_split_routes_both_ways(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    _, (v1, v2) = versions(client)
    alias = client.create_state_machine_alias(
        name="split",
        routingConfiguration=[
            {"stateMachineVersionArn": v1, "weight": 50},
            {"stateMachineVersionArn": v2, "weight": 50},
        ],
    )["stateMachineAliasArn"]
    seen = set()
    for _ in range(40):
        execution = client.start_execution(stateMachineArn=alias)["executionArn"]
        seen.add(client.describe_execution(executionArn=execution)["stateMachineVersionArn"])
        if seen == {v1, v2}:
            break
    assert seen == {v1, v2}


def test_deleting_a_state_machine_deletes_its_aliases(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn, (v1,) = versions(client, 1)
    alias = client.create_state_machine_alias(
        name="gone", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )["stateMachineAliasArn"]
    client.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_state_machine_alias(stateMachineAliasArn=alias)


def test_map_run_children_of_an_alias_execution_are_not_alias_executions(
    shared_sfn_client: Any,
) -> None:
    client = shared_sfn_client
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    arn = machine(client, json.dumps(definition), publish=True)
    alias = client.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": arn + ":1", "weight": 100}]
    )["stateMachineAliasArn"]
    execution = client.start_execution(stateMachineArn=alias, input="[1, 2]")["executionArn"]
    assert wait_for_execution(client, execution)["status"] == "SUCCEEDED"
    map_run = client.list_map_runs(executionArn=execution)["mapRuns"][0]["mapRunArn"]
    children = client.list_executions(mapRunArn=map_run)["executions"]
    assert len(children) == 2
    for child in children:
        assert "stateMachineAliasArn" not in child
        assert child["stateMachineArn"].startswith(alias + "/")


# RedriveExecution ----------------------------------------------------------------------


def test_redrive_with_the_same_client_token_is_idempotent(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client, FAIL_DEFINITION)
    execution = client.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for_execution(client, execution)
    first = client.redrive_execution(executionArn=execution, clientToken="token-1")
    wait_for_execution(client, execution)
    again = client.redrive_execution(executionArn=execution, clientToken="token-1")
    assert again["redriveDate"] == first["redriveDate"]
    assert client.describe_execution(executionArn=execution)["redriveCount"] == 1
    other = client.redrive_execution(executionArn=execution, clientToken="token-2")
    assert other["redriveDate"] > first["redriveDate"]
    assert wait_for_execution(client, execution)["redriveCount"] == 2


def test_the_redrive_filter_picks_before_the_page_is_cut(shared_sfn_client: Any) -> None:
    """ListExecutions with a redriveFilter fills its page from the matching executions:
    an older redriven execution behind newer ones is on the first page, not behind an
    empty page and a nextToken."""
    client = shared_sfn_client
    arn = machine(client, FAIL_DEFINITION)
    redriven = client.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for_execution(client, redriven)
    client.redrive_execution(executionArn=redriven)
    wait_for_execution(client, redriven)
    newer = [client.start_execution(stateMachineArn=arn)["executionArn"] for _ in range(3)]
    for execution in newer:
        wait_for_execution(client, execution)
    page = client.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN", maxResults=2)
    assert [e["executionArn"] for e in page["executions"]] == [redriven]
    assert "nextToken" not in page
    listed: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = client.list_executions(
            stateMachineArn=arn, redriveFilter="NOT_REDRIVEN", maxResults=2, **token
        )
        assert len(page["executions"]) == 2 or "nextToken" not in page  # full pages
        listed += [e["executionArn"] for e in page["executions"]]
        if "nextToken" not in page:
            break
        token = {"nextToken": page["nextToken"]}
    assert listed == newer[::-1]


# What EXPRESS workflows cannot use --------------------------------------------------------


def _task(resource: str) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, "End": True}


CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
JOB = "arn:aws:states:::states:startExecution.sync:2"


@pytest.mark.parametrize("resource", [CALLBACK, JOB])
def test_express_refuses_callbacks_and_jobs(shared_sfn_client: Any, resource: str) -> None:
    client = shared_sfn_client
    definition = json.dumps({"StartAt": "T", "States": {"T": _task(resource)}})
    with pytest.raises(client.exceptions.InvalidDefinition) as info:
        machine(client, definition, type="EXPRESS")
    assert "at /States/T/Resource" in info.value.response["Error"]["Message"]
    assert machine(client, definition)  # STANDARD takes it
    checked = client.validate_state_machine_definition(definition=definition, type="EXPRESS")
    assert checked["result"] == "FAIL"
    assert checked["diagnostics"][0]["location"] == "/States/T/Resource"
    assert client.validate_state_machine_definition(definition=definition)["result"] == "OK"
    express = machine(client, PASS_DEFINITION, type="EXPRESS")
    with pytest.raises(client.exceptions.InvalidDefinition):
        client.update_state_machine(stateMachineArn=express, definition=definition)


def test_express_children_of_a_distributed_map_refuse_callbacks(shared_sfn_client: Any) -> None:
    client = shared_sfn_client

    def dmap(execution_type: str) -> str:
        processor = {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
            "StartAt": "T",
            "States": {"T": _task(CALLBACK)},
        }
        state = {"Type": "Map", "ItemProcessor": processor, "End": True}
        return json.dumps({"StartAt": "M", "States": {"M": state}})

    with pytest.raises(client.exceptions.InvalidDefinition) as info:
        machine(client, dmap("EXPRESS"))
    assert "at /States/M/ItemProcessor/States/T/Resource" in info.value.response["Error"]["Message"]
    assert machine(client, dmap("STANDARD"))


def test_a_distributed_map_state_arn_is_a_validation_error(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    map_state = machine(client) + "/Label"
    with pytest.raises(client.exceptions.ValidationException):
        client.describe_state_machine(stateMachineArn=map_state)
    with pytest.raises(client.exceptions.ValidationException):
        client.start_execution(stateMachineArn=map_state)
