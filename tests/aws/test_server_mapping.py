"""``montemap server --mapping FILE``: a definition written for AWS runs here unchanged.

The client creates the state machine with its AWS ARNs, exactly as its deploy
scripts do against AWS; the server binds them to local resources on the way in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.testing import MontemapServer, ServerError, wait_for_execution

AWS_ACTIVITY = "arn:aws:states:eu-west-1:111122223333:activity:prod-batches"
LOCAL_ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:batches"


def test_aws_definition_created_through_the_api_runs_locally(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"{AWS_ACTIVITY}: {LOCAL_ACTIVITY}\n")
    server = server_factory(extra_args=["--mapping", str(mapping)])
    client = server.client()
    client.create_activity(name="batches")
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": AWS_ACTIVITY, "End": True}},
    }
    arn = client.create_state_machine(
        name="from-aws",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::111122223333:role/prod",
    )["stateMachineArn"]
    stored = json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])
    assert stored["States"]["Work"]["Resource"] == LOCAL_ACTIVITY
    execution = client.start_execution(stateMachineArn=arn, input='{"batch": 1}')["executionArn"]
    task = client.get_activity_task(activityArn=LOCAL_ACTIVITY)
    assert json.loads(task["input"]) == {"batch": 1}
    client.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
    d = wait_for_execution(client, execution, timeout=20)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"done": True}


def test_server_refuses_a_missing_mapping_file(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory(start=False, extra_args=["--mapping", str(tmp_path / "nope.yaml")])
    with pytest.raises(ServerError, match=r"--mapping.*is not a file"):
        server.start(timeout=10)
