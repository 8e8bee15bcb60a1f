"""Encryption configurations of state machines and activities, as AWS checks and keeps them.

AWS documents InvalidEncryptionConfiguration for a customer managed key without its key
id, and UpdateStateMachine as changing the encryption configuration too. No key is used
here (nothing is encrypted at rest): the configuration is checked, kept and reported.
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import PASS_DEFINITION, machine, unique

CUSTOMER_KEY = {
    "type": "CUSTOMER_MANAGED_KMS_KEY",
    "kmsKeyId": "alias/workflows",
    "kmsDataKeyReusePeriodSeconds": 120,
}
NO_KEY_ID = {"type": "CUSTOMER_MANAGED_KMS_KEY"}


def test_a_customer_managed_key_needs_its_key_id(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    invalid = client.exceptions.InvalidEncryptionConfiguration
    name = unique("keyless")
    with pytest.raises(invalid, match="kmsKeyId"):
        client.create_activity(name=name, encryptionConfiguration=NO_KEY_ID)
    assert all(a["name"] != name for a in client.list_activities()["activities"])
    with pytest.raises(invalid, match="kmsKeyId"):
        machine(client, encryptionConfiguration=NO_KEY_ID)
    arn = machine(client)
    with pytest.raises(invalid, match="kmsKeyId"):
        client.update_state_machine(
            stateMachineArn=arn, definition=PASS_DEFINITION, encryptionConfiguration=NO_KEY_ID
        )
    assert "kmsKeyId" not in str(client.describe_state_machine(stateMachineArn=arn))


def test_update_state_machine_changes_the_encryption_configuration(
    shared_sfn_client: Any,
) -> None:
    """Given with another change (AWS's MissingRequiredParameter names the members one of
    which must be there; the encryption configuration is not among them)."""
    client = shared_sfn_client
    arn = machine(client)
    role = client.describe_state_machine(stateMachineArn=arn)["roleArn"]
    revision = client.describe_state_machine(stateMachineArn=arn).get("revisionId")

    def update(config: dict[str, Any]) -> Any:
        return client.update_state_machine(
            stateMachineArn=arn, roleArn=role, encryptionConfiguration=config
        )

    updated = update(CUSTOMER_KEY)
    described = client.describe_state_machine(stateMachineArn=arn)
    assert described["encryptionConfiguration"] == CUSTOMER_KEY
    assert updated["revisionId"] == described["revisionId"] != revision
    assert update(CUSTOMER_KEY)["revisionId"] == updated["revisionId"]  # no change, same revision
    owned = {"type": "AWS_OWNED_KEY"}
    update(owned)
    assert client.describe_state_machine(stateMachineArn=arn)["encryptionConfiguration"] == owned


def test_an_executions_state_machine_reports_its_encryption_configuration(
    shared_sfn_client: Any,
) -> None:
    client = shared_sfn_client
    arn = machine(client, encryptionConfiguration=CUSTOMER_KEY)
    execution = client.start_execution(stateMachineArn=arn)["executionArn"]
    described = client.describe_state_machine_for_execution(executionArn=execution)
    assert described["encryptionConfiguration"] == CUSTOMER_KEY
    plain = client.start_execution(stateMachineArn=machine(client))["executionArn"]
    assert "encryptionConfiguration" not in client.describe_state_machine_for_execution(
        executionArn=plain
    )
