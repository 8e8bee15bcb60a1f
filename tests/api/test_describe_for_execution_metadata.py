"""DescribeStateMachineForExecution honours ``includedData``.

``METADATA_ONLY`` (for callers without ``kms:Decrypt``) gets a response without
the definition; the member is required, and AWS documents the definition as
``{}`` then. montemap ignored the member and always sent the definition.
"""

from __future__ import annotations

from typing import Any

from montemap.testing import wait_for_execution

from .helpers import PASS_DEFINITION, machine


def test_metadata_only_answers_an_empty_definition(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = machine(client)
    execution = client.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for_execution(client, execution)
    full = client.describe_state_machine_for_execution(executionArn=execution)
    assert full["definition"] == PASS_DEFINITION
    explicit = client.describe_state_machine_for_execution(
        executionArn=execution, includedData="ALL_DATA"
    )
    assert explicit["definition"] == PASS_DEFINITION
    metadata = client.describe_state_machine_for_execution(
        executionArn=execution, includedData="METADATA_ONLY"
    )
    assert metadata["definition"] == "{}"
    assert metadata["stateMachineArn"] == arn
    assert metadata["roleArn"] == full["roleArn"]
    assert metadata["updateDate"] == full["updateDate"]
