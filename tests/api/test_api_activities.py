"""Activity actions and task-token refusals through boto3 against a real server, as AWS answers."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.testing import wait_for_execution

from .helpers import unique
from .test_api_executions import activity_machine

#: A token in the shape the server issues that names no task.
WELL_FORMED_UNKNOWN = "AQ18a0b1c2d3e4f5a6b" + "A" * 43


@pytest.mark.parametrize("token", ["no-such-token", "AQ-not-a-token", "x" * 1024])
def test_a_malformed_task_token_is_invalid_token(shared_sfn_client: Any, token: str) -> None:
    """AWS answers a token it could not have issued with InvalidToken, on all three calls."""
    client = shared_sfn_client
    with pytest.raises(client.exceptions.InvalidToken):
        client.send_task_success(taskToken=token, output="{}")
    with pytest.raises(client.exceptions.InvalidToken):
        client.send_task_failure(taskToken=token, error="E")
    with pytest.raises(client.exceptions.InvalidToken) as info:
        client.send_task_heartbeat(taskToken=token)
    assert token not in info.value.response["Error"]["Message"]  # a token is a credential


def test_a_well_formed_unknown_token_is_task_does_not_exist(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.TaskDoesNotExist):
        client.send_task_success(taskToken=WELL_FORMED_UNKNOWN, output="{}")
    with pytest.raises(client.exceptions.TaskDoesNotExist):
        client.send_task_heartbeat(taskToken=WELL_FORMED_UNKNOWN)


def test_a_closed_task_is_task_timed_out_with_aws_message(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    activity, sm = activity_machine(client)
    execution = client.start_execution(stateMachineArn=sm)["executionArn"]
    token = client.get_activity_task(activityArn=activity)["taskToken"]
    client.send_task_success(taskToken=token, output="{}")
    wait_for_execution(client, execution)
    calls: list[tuple[str, dict[str, str]]] = [
        ("send_task_success", {"output": "{}"}),
        ("send_task_failure", {}),
        ("send_task_heartbeat", {}),
    ]
    for method, extra in calls:
        with pytest.raises(client.exceptions.TaskTimedOut) as info:
            getattr(client, method)(taskToken=token, **extra)
        assert info.value.response["Error"]["Message"] == (
            "Task Timed Out: 'Provided task does not exist anymore'"
        )


def test_activity_encryption_configuration_is_kept_and_reported(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    name = unique("enc")
    config = {
        "type": "CUSTOMER_MANAGED_KMS_KEY",
        "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
        "kmsDataKeyReusePeriodSeconds": 300,
    }
    arn = client.create_activity(name=name, encryptionConfiguration=config)["activityArn"]
    assert client.describe_activity(activityArn=arn)["encryptionConfiguration"] == config
    # The same request again is idempotent; another configuration is refused.
    assert client.create_activity(name=name, encryptionConfiguration=config)["activityArn"] == arn
    defaulted = {k: v for k, v in config.items() if k != "kmsDataKeyReusePeriodSeconds"}
    assert (
        client.create_activity(name=name, encryptionConfiguration=defaulted)["activityArn"] == arn
    )
    with pytest.raises(client.exceptions.ActivityAlreadyExists):
        client.create_activity(name=name, encryptionConfiguration={"type": "AWS_OWNED_KEY"})
    with pytest.raises(client.exceptions.ActivityAlreadyExists):
        client.create_activity(name=name)
    # Deleted, the name is free for another configuration.
    client.delete_activity(activityArn=arn)
    client.create_activity(name=name)
    assert "encryptionConfiguration" not in client.describe_activity(activityArn=arn)


def test_activity_without_encryption_stays_idempotent(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    name = unique("plain")
    arn = client.create_activity(name=name, tags=[{"key": "a", "value": "1"}])["activityArn"]
    assert (
        client.create_activity(name=name, tags=[{"key": "a", "value": "2"}])["activityArn"] == arn
    )
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "1"}]
    # No configuration is AWS's default, an AWS-owned key.
    owned = {"type": "AWS_OWNED_KEY"}
    assert client.create_activity(name=name, encryptionConfiguration=owned)["activityArn"] == arn
    with pytest.raises(client.exceptions.ActivityAlreadyExists):
        client.create_activity(
            name=name,
            encryptionConfiguration={"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": "alias/k"},
        )
