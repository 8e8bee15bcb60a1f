"""The server's own AWS models and clients read none of the user's AWS configuration:
an ``AWS_PROFILE`` naming no profile (set for the user's other tools) changes nothing
for IAM, STS, CloudFormation or the AWS SDK integrations."""

from __future__ import annotations

import json
from collections.abc import Callable

from montemap.testing import MontemapServer, eventually


def test_a_missing_profile_in_the_environment_is_not_read(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(env={"AWS_PROFILE": "not-on-this-machine"})
    iam = server.client("iam")
    iam.create_role(RoleName="profile-free", AssumeRolePolicyDocument="{}")
    assert iam.get_role(RoleName="profile-free")["Role"]["RoleName"] == "profile-free"
    assert server.client("sts").get_caller_identity()["Account"] == "123456789012"
    sfn = server.client()
    task = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:getRole", "End": True}
    machine = sfn.create_state_machine(
        name="profile-free",
        definition=json.dumps(
            {"StartAt": "T", "States": {"T": {**task, "Parameters": {"RoleName": "profile-free"}}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/r",
    )
    run = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])

    def ended() -> dict[str, object] | None:
        described: dict[str, object] = sfn.describe_execution(executionArn=run["executionArn"])
        return None if described["status"] == "RUNNING" else described

    done = eventually(ended, timeout=60, what="the execution's end")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(str(done["output"]))["Role"]["RoleName"] == "profile-free"
