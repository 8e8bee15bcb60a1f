"""``aws cloudformation deploy`` (change sets) and ``montemap deploy`` against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from montemap.testing import DUMMY_AWS_ENV, MontemapServer
from tests.cloudformation.helpers import client, finished, outputs

TEMPLATE = """
Parameters:
  Suffix: {Type: String}
Resources:
  Store:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Sub "deployed-${Suffix}"}
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: !Sub "jobs-${Suffix}"}
Outputs:
  Store: {Value: !Ref Store}
"""


def _aws(server: MontemapServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **DUMMY_AWS_ENV}
    return subprocess.run(
        [sys.executable, "-m", "awscli", "cloudformation", *args, "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=110,
    )


def test_aws_cli_deploy_with_change_sets(cfn_server: MontemapServer, tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(TEMPLATE)
    common = ["deploy", "--template-file", str(path), "--stack-name", "cli"]
    held = _aws(
        cfn_server, *common, "--parameter-overrides", "Suffix=one", "--no-execute-changeset"
    )
    assert held.returncode == 0, held.stderr
    cfn = client(cfn_server)
    assert cfn.describe_stacks(StackName="cli")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    change_sets = cfn.list_change_sets(StackName="cli")["Summaries"]
    assert [c["Status"] for c in change_sets] == ["CREATE_COMPLETE"]
    detail = cfn.describe_change_set(ChangeSetName=change_sets[0]["ChangeSetId"], StackName="cli")
    assert {c["ResourceChange"]["LogicalResourceId"] for c in detail["Changes"]} == {
        "Store",
        "Jobs",
    }
    done = _aws(cfn_server, *common, "--parameter-overrides", "Suffix=one")
    assert done.returncode == 0, done.stderr
    assert outputs(finished(cfn, "cli")) == {"Store": "deployed-one"}
    again = _aws(
        cfn_server, *common, "--parameter-overrides", "Suffix=one", "--no-fail-on-empty-changeset"
    )
    assert again.returncode == 0, again.stderr
    assert "No changes to deploy" in again.stdout + again.stderr
    changed = _aws(cfn_server, *common, "--parameter-overrides", "Suffix=two")
    assert changed.returncode == 0, changed.stderr
    stack = finished(cfn, "cli")
    assert (stack["StackStatus"], outputs(stack)) == ("UPDATE_COMPLETE", {"Store": "deployed-two"})
    buckets = [b["Name"] for b in cfn_server.client("s3").list_buckets()["Buckets"]]
    assert "deployed-two" in buckets and "deployed-one" not in buckets


def test_montemap_deploy_short_form(cfn_server: MontemapServer, tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(TEMPLATE)
    command = [
        sys.executable,
        "-m",
        "montemap.cli",
        "deploy",
        str(path),
        "--parameter",
        "Suffix=short",
        "--endpoint-url",
        cfn_server.url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stderr
    assert "Store\tdeployed-short" in result.stdout
    assert outputs(finished(client(cfn_server), "short")) == {"Store": "deployed-short"}
    bad = subprocess.run(
        [*command[:-4], "--endpoint-url", cfn_server.url],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert bad.returncode == 1 and "Parameters: [Suffix] must have values" in bad.stderr


UNRESOLVED_OUTPUT = """
Parameters:
  Env: {Type: String, Default: dev}
Mappings:
  Retention: {dev: {Days: 7}}
Resources:
  Jobs: {Type: AWS::StepFunctions::Activity}
Outputs:
  Days: {Value: !FindInMap [Retention, !Ref Env, Days]}
"""


def test_montemap_deploy_names_why_the_stack_failed(
    cfn_server: MontemapServer, tmp_path: Path
) -> None:
    """A failure no resource carries (an output that does not resolve) is the stack's own
    reason for rolling back: shown, where it said "(no reason)"."""
    path = tmp_path / "unresolved.yaml"
    path.write_text(UNRESOLVED_OUTPUT)
    command = [sys.executable, "-m", "montemap.cli", "deploy", str(path)]
    command += ["--stack-name", "t-unresolved", "--endpoint-url", cfn_server.url]
    first = subprocess.run(command, capture_output=True, text=True, timeout=110)
    assert first.returncode == 0, first.stderr
    failed = subprocess.run(
        [*command, "--parameter", "Env=prod"], capture_output=True, text=True, timeout=110
    )
    assert failed.returncode == 1
    assert "ended UPDATE_ROLLBACK_COMPLETE" in failed.stderr
    assert "(no reason)" not in failed.stderr
    assert "prod not found in map Retention" in failed.stderr, failed.stderr
