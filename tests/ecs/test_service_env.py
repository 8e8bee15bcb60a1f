"""Every task gets what Fargate gives a container: HOSTNAME, region, credentials, endpoint.

The last test runs an unmodified boto3 activity worker (no endpoint, no
region, no credentials in its code) as a task of a real server.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from montemap.ecs.task_env import task_environment
from tests.conftest import MontemapServer

#: Prints the variables a task sees, then sleeps.
_SHOW_ENV = (
    "import json, os, time;"
    " keys = ['HOSTNAME', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID',"
    " 'AWS_SECRET_ACCESS_KEY', 'AWS_ENDPOINT_URL', 'AWS_EXECUTION_ENV', 'AWS_PROFILE', 'EXTRA'];"
    " print('ENV', json.dumps({k: os.environ.get(k) for k in keys}), flush=True);"
    " time.sleep(600)"
)

#: A worker written against plain boto3, as for AWS: nothing montemap-specific in it.
_BOTO3_WORKER = """
import json, os
import boto3
sfn = boto3.client("stepfunctions")
while True:
    task = sfn.get_activity_task(activityArn=os.environ["ACTIVITY_ARN"],
                                 workerName=os.environ["HOSTNAME"])
    if task.get("taskToken"):
        keys = ["HOSTNAME", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_EXECUTION_ENV", "EXTRA"]
        sfn.send_task_success(taskToken=task["taskToken"],
                              output=json.dumps({k: os.environ.get(k) for k in keys}))
"""


def test_task_environment_replaces_the_hosts_aws_settings() -> None:
    host = {"PATH": "/bin", "AWS_PROFILE": "prod", "AWS_ENDPOINT_URL_S3": "http://elsewhere"}
    env = task_environment(
        host,
        task_id="abc",
        region="eu-west-1",
        endpoint="http://127.0.0.1:1",
        access_key_id="k",
        secret_access_key="s",
    )
    assert env["PATH"] == "/bin" and env["HOSTNAME"] == "abc"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("k", "s")
    assert env["AWS_EXECUTION_ENV"] == "AWS_ECS_FARGATE"
    assert "AWS_PROFILE" not in env and "AWS_ENDPOINT_URL_S3" not in env
    assert env["AWS_CONFIG_FILE"] == os.devnull
    bare = task_environment(
        {}, task_id="t", region=None, endpoint=None, access_key_id=None, secret_access_key=None
    )
    assert "AWS_REGION" not in bare and "AWS_ENDPOINT_URL" not in bare
    assert "AWS_ACCESS_KEY_ID" not in bare


def test_task_environment_leaves_out_the_servers_configured_key() -> None:
    host = {"PATH": "/bin", "MONTEMAP_ACCESS_KEY_ID": "K", "MONTEMAP_SECRET_ACCESS_KEY": "S" * 20}
    env = task_environment(
        host,
        task_id="t",
        region="us-east-1",
        endpoint=None,
        access_key_id="server-own",
        secret_access_key="server-own-secret",
    )
    assert "MONTEMAP_ACCESS_KEY_ID" not in env and "MONTEMAP_SECRET_ACCESS_KEY" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "server-own" and env["PATH"] == "/bin"


def _poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def _only_task(ecs: Any, service: str) -> str:
    arns = _poll(
        lambda: ecs.list_tasks(cluster="default", serviceName=service)["taskArns"], 30, "a task"
    )
    assert len(arns) == 1
    task_id: str = arns[0].rsplit("/", 1)[1]
    return task_id


def test_task_sees_fargate_variables_and_its_definitions_overrides(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(env={"AWS_PROFILE": "not-for-tasks"})
    ecs = server.client("ecs")
    ecs.register_task_definition(
        family="show-env",
        containerDefinitions=[
            {
                "name": "main",
                "image": "none",
                "command": [sys.executable, "-c", _SHOW_ENV],
                "environment": [
                    {"name": "EXTRA", "value": "from-definition"},
                    {"name": "AWS_EXECUTION_ENV", "value": "overridden"},
                ],
            }
        ],
    )
    ecs.create_service(
        cluster="default", serviceName="env", taskDefinition="show-env", desiredCount=1
    )
    task_id = _only_task(ecs, "env")
    log = Path(server.data_dir) / "logs" / "default" / f"{task_id}.log"
    _poll(lambda: log.exists() and "ENV" in log.read_text(), 30, "the task's output")
    seen = json.loads(log.read_text().split("ENV", 1)[1].splitlines()[0])
    assert seen["HOSTNAME"] == task_id
    assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == "us-east-1"
    assert seen["AWS_ENDPOINT_URL"] == server.url
    assert seen["AWS_ACCESS_KEY_ID"] and seen["AWS_SECRET_ACCESS_KEY"]
    assert seen["AWS_EXECUTION_ENV"] == "overridden"
    assert seen["EXTRA"] == "from-definition"
    assert seen["AWS_PROFILE"] is None


def test_unmodified_boto3_worker_reaches_the_server(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory()
    sfn, ecs = server.client(), server.client("ecs")
    activity = sfn.create_activity(name="plain-boto3")["activityArn"]
    machine = sfn.create_state_machine(
        name="plain-boto3",
        roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps(
            {
                "StartAt": "Work",
                "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
            }
        ),
    )["stateMachineArn"]
    ecs.register_task_definition(
        family="boto3-worker",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "python",
                "command": [sys.executable, "-c", _BOTO3_WORKER],
                "environment": [
                    {"name": "ACTIVITY_ARN", "value": activity},
                    {"name": "EXTRA", "value": "mine"},
                ],
            }
        ],
    )
    ecs.create_service(
        cluster="default", serviceName="boto3", taskDefinition="boto3-worker", desiredCount=1
    )
    task_id = _only_task(ecs, "boto3")
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        return described if described["status"] != "RUNNING" else None

    described = _poll(finished, 60, "the execution to end")
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output == {
        "HOSTNAME": task_id,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "EXTRA": "mine",
    }
    history = sfn.get_execution_history(executionArn=execution)["events"]
    started = [e for e in history if e["type"] == "ActivityStarted"]
    assert started and started[0]["activityStartedEventDetails"]["workerName"] == task_id
