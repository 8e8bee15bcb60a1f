"""The worker image's entry point, run outside Docker with the task definition's environment.

The command is the Dockerfile's ENTRYPOINT; the environment is the
``small`` task definition's, as CloudFormation resolves it, plus only what
points boto3 at local stand-ins (``AWS_ENDPOINT_URL_SFN`` at a montemap
server, ``AWS_ENDPOINT_URL_S3`` at a moto S3 server) and dummy credentials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from montemap.aws import ContainerConfigError, Resolver, worker_arguments
from montemap.storage import S3ObjectStore
from montemap.testing import MontemapServer, wait_for_execution
from tests.aws.helpers import stack_template
from tests.credit.helpers import csv_bytes, portfolio

ROOT = Path(__file__).resolve().parents[2]
#: The local server's account and region, so the stack's ARNs are this server's.
LOCAL = {"account": "123456789012", "region": "us-east-1"}


def entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT, with this interpreter for ``python``."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENTRYPOINT "):
            command: list[str] = json.loads(line.removeprefix("ENTRYPOINT "))
            assert command[0] == "python"
            return [sys.executable, *command[1:]]
    raise AssertionError("the Dockerfile has no ENTRYPOINT")


def task_environment() -> dict[str, str]:
    """The worker container's environment in the generated ``small`` task definition."""
    template = stack_template()
    resolver = Resolver(template, parameters={"ImageTag": "v1"}, **LOCAL)
    props = template["Resources"]["SmallTaskDefinition"]["Properties"]
    (container,) = resolver.value(props["ContainerDefinitions"])
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def test_task_definition_environment_is_complete() -> None:
    env = task_environment()
    assert (
        env["MONTEMAP_ACTIVITY_ARN"] == "arn:aws:states:us-east-1:123456789012:activity:mm-credit"
    )
    assert env["MONTEMAP_STORE"] == "s3://" and env["AWS_REGION"] == "us-east-1"
    args = worker_arguments(env)
    assert args[:4] == ["--activity-arn", env["MONTEMAP_ACTIVITY_ARN"], "--handler",
                        "montemap.credit.batch:handle_batch"]  # fmt: skip
    assert args[args.index("--region") : args.index("--region") + 2] == ["--region", "us-east-1"]
    assert "--endpoint" not in args  # boto3 finds AWS itself


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MONTEMAP_ACTIVITY_ARN is not set"),
        ({"MONTEMAP_ACTIVITY_ARN": "arn:aws:sqs:x"}, "is not an activity ARN"),
        (
            {"MONTEMAP_ACTIVITY_ARN": "arn:aws:states:us-east-1:123456789012:activity:a"},
            "MONTEMAP_STORE is not set",
        ),
        (
            {
                "MONTEMAP_ACTIVITY_ARN": "arn:aws:states:us-east-1:123456789012:activity:a",
                "MONTEMAP_STORE": "s3://",
                "MONTEMAP_CONCURRENCY": "0",
            },
            "MONTEMAP_CONCURRENCY '0' must be a whole number >= 1",
        ),
        (
            {
                "MONTEMAP_ACTIVITY_ARN": "arn:aws:states:us-east-1:123456789012:activity:a",
                "MONTEMAP_STORE": "s3://",
                "MONTEMAP_SHUTDOWN_GRACE": "soon",
            },
            "MONTEMAP_SHUTDOWN_GRACE 'soon' must be a number of seconds >= 0",
        ),
        (
            {
                "MONTEMAP_ACTIVITY_ARN": "arn:aws:states:us-east-1:123456789012:activity:a",
                "MONTEMAP_STORE": "s3://",
                "MONTEMAP_LOG_FORMAT": "xml",
            },
            "MONTEMAP_LOG_FORMAT 'xml' must be json or text",
        ),
    ],
)
def test_a_wrong_environment_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ContainerConfigError, match=message):
        worker_arguments(env)


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}


def test_entrypoint_refuses_a_missing_activity_clearly() -> None:
    done = subprocess.run(
        entrypoint(), env=_clean_environ(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "MONTEMAP_ACTIVITY_ARN is not set" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.timeout(120)
def test_entrypoint_serves_a_batch_with_the_task_environment(
    tmp_path: Path, montemap_server: MontemapServer, moto_endpoint: str
) -> None:
    env = task_environment()
    store = S3ObjectStore(endpoint_url=moto_endpoint, region_name="us-east-1")
    sfn = montemap_server.client()
    try:
        store.create_bucket("mm-src")
        keys = []
        for i, record in enumerate(portfolio(5), start=1):
            keys.append(f"data/data-gen-{i:06d}.csv")
            store.put("mm-src", keys[-1], csv_bytes([record]))
        activity = sfn.create_activity(name="mm-credit")["activityArn"]
        assert activity == env["MONTEMAP_ACTIVITY_ARN"]
        machine = sfn.create_state_machine(
            name="one-batch",
            roleArn="arn:aws:iam::123456789012:role/test",
            definition=json.dumps(
                {
                    "StartAt": "Run Activity",
                    "States": {
                        "Run Activity": {
                            "Type": "Task",
                            "Resource": activity,
                            "HeartbeatSeconds": 60,
                            "End": True,
                        }
                    },
                }
            ),
        )["stateMachineArn"]
        batch: dict[str, Any] = {
            "Items": [{"Bucket": "mm-src", "Key": k} for k in keys],
            "BatchInput": {
                "output_bucket": "mm-out",
                "output_prefix": "runs/r1",
                "paths": 32,
                "seed": 1,
                "as_of": "2026-06-30",
                "shocks_bp": [0, 100],
            },
        }
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(batch))

        log = tmp_path / "container.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                entrypoint(),
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    **_clean_environ(),
                    **env,
                    "AWS_ENDPOINT_URL_SFN": montemap_server.url,
                    "AWS_ENDPOINT_URL_S3": moto_endpoint,
                    "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_CONFIG_FILE": os.devnull,
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_EC2_METADATA_DISABLED": "true",
                },
            )
            try:
                done = wait_for_execution(sfn, execution["executionArn"], timeout=90)
            finally:
                proc.send_signal(signal.SIGTERM)  # what ECS sends to stop a task
                code = proc.wait(timeout=30)
        text = log.read_text()
        assert done["status"] == "SUCCEEDED", (done, text)
        output = json.loads(done["output"])
        assert output["objects"] == 5
        assert output["output"].startswith("s3://mm-out/runs/r1/batches/")
        written = [o.key for o in store.list_page("mm-out", "runs/r1/").objects]
        assert any(k.endswith("loans.arrow") for k in written)
        assert code == 0, text
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert any("task succeeded" in r["message"] for r in records)  # JSON logs, as configured
    finally:
        sfn.close()
        store.close()
