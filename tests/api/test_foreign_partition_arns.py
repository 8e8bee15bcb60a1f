"""An ARN of another partition (``aws-cn``, ``aws-us-gov``) is ``InvalidArn``.

The server's ARNs are all ``arn:aws:states:<region>:<account>:...``; an ARN of
another region or account was already refused as foreign (InvalidArn, nothing
looked up), but one of another partition was looked up and answered
``ExecutionDoesNotExist``, ``StateMachineDoesNotExist``... or, for
DeleteStateMachine, a silent success.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import machine


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov", "aws-iso"])
def test_other_partitions_are_invalid_arns(shared_sfn_client: Any, partition: str) -> None:
    client = shared_sfn_client
    arn = machine(client)
    foreign = arn.replace("arn:aws:", f"arn:{partition}:", 1)
    execution = foreign.replace(":stateMachine:", ":execution:") + ":run"
    calls = [
        (client.describe_state_machine, {"stateMachineArn": foreign}),
        (client.delete_state_machine, {"stateMachineArn": foreign}),
        (client.start_execution, {"stateMachineArn": foreign}),
        (client.describe_execution, {"executionArn": execution}),
        (client.list_tags_for_resource, {"resourceArn": foreign}),
    ]
    for call, params in calls:
        with pytest.raises(ClientError) as refused:
            call(**params)
        error = refused.value.response["Error"]
        assert error["Code"] == "InvalidArn", (call, error)
        assert partition in error["Message"]
    assert client.describe_state_machine(stateMachineArn=arn)["stateMachineArn"] == arn
