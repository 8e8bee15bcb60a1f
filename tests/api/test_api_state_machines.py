"""State machine actions through boto3 against a real ``montemap server`` process."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from .helpers import PASS_DEFINITION, ROLE_ARN

ACCOUNT_PREFIX = "arn:aws:states:us-east-1:123456789012"


def unique(prefix: str = "sm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create(client: Any, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": name or unique(),
        "definition": PASS_DEFINITION,
        "roleArn": ROLE_ARN,
    }
    params.update(kwargs)
    response: dict[str, Any] = client.create_state_machine(**params)
    return response


def test_create_and_describe(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    name = unique()
    created = create(client, name)
    arn = created["stateMachineArn"]
    assert arn == f"{ACCOUNT_PREFIX}:stateMachine:{name}"
    assert "stateMachineVersionArn" not in created
    described = client.describe_state_machine(stateMachineArn=arn)
    assert described["name"] == name
    assert described["status"] == "ACTIVE"
    assert described["type"] == "STANDARD"
    assert described["definition"] == PASS_DEFINITION
    assert described["roleArn"] == ROLE_ARN
    assert described["creationDate"] == created["creationDate"]
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert described["tracingConfiguration"] == {"enabled": False}
    assert "revisionId" not in described


def test_metadata_only_answers_the_definition_as_empty(shared_sfn_client: Any) -> None:
    """AWS: "If called with includedData = METADATA_ONLY, the returned definition will be
    {}" (the member is required in the response)."""
    arn = create(shared_sfn_client)["stateMachineArn"]
    described = shared_sfn_client.describe_state_machine(
        stateMachineArn=arn, includedData="METADATA_ONLY"
    )
    assert described["definition"] == "{}" and described["name"]
    version = shared_sfn_client.publish_state_machine_version(stateMachineArn=arn)
    described = shared_sfn_client.describe_state_machine(
        stateMachineArn=version["stateMachineVersionArn"], includedData="METADATA_ONLY"
    )
    assert described["definition"] == "{}"


def test_express_type(shared_sfn_client: Any) -> None:
    arn = create(shared_sfn_client, type="EXPRESS")["stateMachineArn"]
    assert shared_sfn_client.describe_state_machine(stateMachineArn=arn)["type"] == "EXPRESS"


def test_identical_create_is_idempotent(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    name = unique()
    first = create(client, name, tags=[{"key": "a", "value": "1"}])
    # roleArn and tags do not count in AWS's idempotency check
    again = create(client, name, roleArn=ROLE_ARN + "-other", tags=[{"key": "b", "value": "2"}])
    assert again == {**first, "ResponseMetadata": again["ResponseMetadata"]}
    described = client.describe_state_machine(stateMachineArn=first["stateMachineArn"])
    assert described["roleArn"] == ROLE_ARN
    tags = client.list_tags_for_resource(resourceArn=first["stateMachineArn"])["tags"]
    assert tags == [{"key": "a", "value": "1"}]


def test_different_create_with_same_name_fails(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    name = unique()
    arn = create(client, name)["stateMachineArn"]
    reformatted = json.dumps(json.loads(PASS_DEFINITION), indent=2)
    with pytest.raises(client.exceptions.StateMachineAlreadyExists) as info:
        create(client, name, definition=reformatted)
    assert info.value.response["Error"]["Message"] == f"State Machine Already Exists: '{arn}'"


@pytest.mark.parametrize("name", ["has space", "a*b", "semi;colon", "brace{"])
def test_invalid_name(shared_sfn_client: Any, name: str) -> None:
    with pytest.raises(shared_sfn_client.exceptions.InvalidName) as info:
        create(shared_sfn_client, name)
    assert info.value.response["Error"]["Message"] == f"Invalid Name: '{name}'"


def test_name_too_long_is_a_validation_error(shared_sfn_client: Any) -> None:
    with pytest.raises(shared_sfn_client.exceptions.ValidationException) as info:
        create(shared_sfn_client, "n" * 81)
    assert "Member must have length less than or equal to 80" in str(info.value)


def test_invalid_definition(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.InvalidDefinition) as info:
        create(client, definition='{"StartAt": "P"}')
    message = info.value.response["Error"]["Message"]
    assert message.startswith("Invalid State Machine Definition: '")
    assert "SCHEMA_VALIDATION_FAILED" in message
    with pytest.raises(client.exceptions.InvalidDefinition) as info:
        create(client, definition="not json")
    assert "INVALID_JSON_DESCRIPTION" in info.value.response["Error"]["Message"]


def test_invalid_role_arn(shared_sfn_client: Any) -> None:
    with pytest.raises(shared_sfn_client.exceptions.InvalidArn):
        create(shared_sfn_client, roleArn="not-a-role")


def test_logging_level_without_destination(shared_sfn_client: Any) -> None:
    with pytest.raises(shared_sfn_client.exceptions.InvalidLoggingConfiguration):
        create(shared_sfn_client, loggingConfiguration={"level": "ALL"})


def test_describe_errors(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.InvalidArn) as info:
        client.describe_state_machine(stateMachineArn="not_a_valid_arn")
    assert info.value.response["Error"]["Message"] == (
        "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'"
    )
    activity_arn = f"{ACCOUNT_PREFIX}:activity:whatever"
    with pytest.raises(client.exceptions.InvalidArn) as info:
        client.describe_state_machine(stateMachineArn=activity_arn)
    assert "Resource type not valid in this context: activity" in str(info.value)
    missing = f"{ACCOUNT_PREFIX}:stateMachine:{unique()}"
    with pytest.raises(client.exceptions.StateMachineDoesNotExist) as info:
        client.describe_state_machine(stateMachineArn=missing)
    assert info.value.response["Error"]["Message"] == f"State Machine Does Not Exist: '{missing}'"
    other_account = f"arn:aws:states:us-east-1:999999999999:stateMachine:{unique()}"
    with pytest.raises(client.exceptions.InvalidArn):
        client.describe_state_machine(stateMachineArn=other_account)


def test_update_changes_revision(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = create(client)["stateMachineArn"]
    new_definition = PASS_DEFINITION.replace('"ok"', '"updated"')
    first = client.update_state_machine(stateMachineArn=arn, definition=new_definition)
    assert first["revisionId"]
    described = client.describe_state_machine(stateMachineArn=arn)
    assert described["definition"] == new_definition
    assert described["revisionId"] == first["revisionId"]
    same = client.update_state_machine(stateMachineArn=arn, definition=new_definition)
    assert same["revisionId"] == first["revisionId"]
    second = client.update_state_machine(stateMachineArn=arn, roleArn=ROLE_ARN + "2")
    assert second["revisionId"] != first["revisionId"]
    assert client.describe_state_machine(stateMachineArn=arn)["roleArn"] == ROLE_ARN + "2"


def test_update_errors(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = create(client)["stateMachineArn"]
    with pytest.raises(client.exceptions.MissingRequiredParameter) as info:
        client.update_state_machine(stateMachineArn=arn)
    assert info.value.response["Error"]["Message"] == (
        "Either the definition, the role ARN, the LoggingConfiguration, "
        "or the TracingConfiguration must be specified"
    )
    with pytest.raises(client.exceptions.InvalidDefinition):
        client.update_state_machine(stateMachineArn=arn, definition="{}")
    missing = f"{ACCOUNT_PREFIX}:stateMachine:{unique()}"
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.update_state_machine(stateMachineArn=missing, definition=PASS_DEFINITION)


def test_publish_versions(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    created = create(client, publish=True, versionDescription="first")
    arn = created["stateMachineArn"]
    assert created["stateMachineVersionArn"] == f"{arn}:1"
    version = client.describe_state_machine(stateMachineArn=f"{arn}:1")
    assert version["stateMachineArn"] == f"{arn}:1"
    assert version["description"] == "first"
    assert version["definition"] == PASS_DEFINITION
    new_definition = PASS_DEFINITION.replace('"ok"', '"v2"')
    updated = client.update_state_machine(
        stateMachineArn=arn, definition=new_definition, publish=True
    )
    assert updated["stateMachineVersionArn"] == f"{arn}:2"
    assert (
        client.describe_state_machine(stateMachineArn=f"{arn}:1")["definition"] == PASS_DEFINITION
    )
    with pytest.raises(client.exceptions.ValidationException):
        create(client, versionDescription="without publish")


def test_delete(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = create(client, tags=[{"key": "k", "value": "v"}])["stateMachineArn"]
    client.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.describe_state_machine(stateMachineArn=arn)
    # deleting what does not exist succeeds, as on AWS
    client.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(client.exceptions.InvalidArn):
        client.delete_state_machine(stateMachineArn="nope")
    # the name is free again
    name = arn.rsplit(":", 1)[1]
    create(client, name, definition=PASS_DEFINITION.replace('"ok"', '"new"'))
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == []


def test_list_pages_in_name_order(sfn_client: Any) -> None:
    names = [f"machine-{i:02d}" for i in range(7)]
    for name in reversed(names):
        create(sfn_client, name)
    first = sfn_client.list_state_machines(maxResults=3)
    assert [m["name"] for m in first["stateMachines"]] == names[:3]
    assert set(first["stateMachines"][0]) == {"stateMachineArn", "name", "type", "creationDate"}
    second = sfn_client.list_state_machines(maxResults=3, nextToken=first["nextToken"])
    assert [m["name"] for m in second["stateMachines"]] == names[3:6]
    third = sfn_client.list_state_machines(maxResults=3, nextToken=second["nextToken"])
    assert [m["name"] for m in third["stateMachines"]] == names[6:]
    assert "nextToken" not in third
    paginator = sfn_client.get_paginator("list_state_machines")
    listed = [
        m["name"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 2})
        for m in page["stateMachines"]
    ]
    assert listed == names
    with pytest.raises(sfn_client.exceptions.InvalidToken):
        sfn_client.list_state_machines(nextToken="bogus")


def test_list_rejects_too_large_page(shared_sfn_client: Any) -> None:
    with pytest.raises(shared_sfn_client.exceptions.ValidationException) as info:
        shared_sfn_client.list_state_machines(maxResults=1001)
    assert info.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy "
        "constraint: Member must have value less than or equal to 1000"
    )


def test_validate_definition(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    ok = client.validate_state_machine_definition(definition=PASS_DEFINITION)
    assert (ok["result"], ok["diagnostics"], ok["truncated"]) == ("OK", [], False)
    failed = client.validate_state_machine_definition(definition="{}")
    assert failed["result"] == "FAIL"
    assert failed["diagnostics"][0]["code"] == "SCHEMA_VALIDATION_FAILED"
    assert failed["diagnostics"][0]["severity"] == "ERROR"
    broken = client.validate_state_machine_definition(definition="not a definition")
    assert broken["result"] == "FAIL"
    assert broken["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"


def test_validate_definition_truncates(shared_sfn_client: Any) -> None:
    states = {f"S{i}": {"Type": "Pass", "Next": f"Missing{i}"} for i in range(5)}
    definition = json.dumps({"StartAt": "S0", "States": states})
    result = shared_sfn_client.validate_state_machine_definition(
        definition=definition, maxResults=2
    )
    assert result["result"] == "FAIL"
    assert len(result["diagnostics"]) == 2
    assert result["truncated"] is True


def test_tags_on_state_machines(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = create(client, tags=[{"key": "team", "value": "risk"}])["stateMachineArn"]
    client.tag_resource(
        resourceArn=arn, tags=[{"key": "env", "value": "dev"}, {"key": "team", "value": "credit"}]
    )
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "team", "value": "credit"},
        {"key": "env", "value": "dev"},
    ]
    client.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "env", "value": "dev"}
    ]


def test_tag_errors(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    missing = f"{ACCOUNT_PREFIX}:stateMachine:{unique()}"
    with pytest.raises(client.exceptions.ResourceNotFound) as info:
        client.tag_resource(resourceArn=missing, tags=[{"key": "k", "value": "v"}])
    assert info.value.response["Error"]["Message"] == f"Resource not found: '{missing}'"
    arn = create(client, publish=True)["stateMachineArn"]
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.list_tags_for_resource(resourceArn=f"{arn}:1")
    with pytest.raises(client.exceptions.InvalidArn):
        client.list_tags_for_resource(resourceArn=f"{ACCOUNT_PREFIX}:execution:{unique()}:x")
    many = [{"key": f"k{i}", "value": "v"} for i in range(50)]
    client.tag_resource(resourceArn=arn, tags=many)
    with pytest.raises(client.exceptions.TooManyTags):
        client.tag_resource(resourceArn=arn, tags=[{"key": "one-more", "value": "v"}])


def test_state_machines_survive_a_crash(montemap_server: Any) -> None:
    client = montemap_server.client()
    try:
        arn = create(client, tags=[{"key": "k", "value": "v"}])["stateMachineArn"]
        montemap_server.restart(crash=True)
        assert client.describe_state_machine(stateMachineArn=arn)["definition"] == PASS_DEFINITION
        assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
            {"key": "k", "value": "v"}
        ]
    finally:
        client.close()
