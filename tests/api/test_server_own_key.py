"""The server's own clients (its worker tasks, its AWS SDK integrations) work on a server
with keys, wherever the keys come from: they sign with a key the server draws at each
start, accepted by that server only and never logged. Outside callers still need a
configured key."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from montemap.api.credentials import SERVER_KEY_PREFIX, server_key
from montemap.testing import REGION, eventually
from tests.conftest import MontemapServer

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/r"
FILE_KEY = ("FILEKEY", "file-secret-0123456789abcdef")
ENV_KEY = ("ENVKEY", "env-secret-0123456789abcdefgh")
NO_ENV_KEY = {"MONTEMAP_ACCESS_KEY_ID": "", "MONTEMAP_SECRET_ACCESS_KEY": ""}


def _client(server: MontemapServer, service: str, key: tuple[str, str]) -> Any:
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _keyed_server(
    make: Callable[..., MontemapServer], tmp_path: Path, source: str
) -> tuple[MontemapServer, tuple[str, str]]:
    """A server whose keys come from ``source`` (file, env, both); a key it accepts."""
    args = ["--no-cgroups"]
    env = dict(NO_ENV_KEY)
    if source in ("file", "both"):
        path = tmp_path / "keys.json"
        path.write_text(
            json.dumps([{"access_key_id": k, "secret_access_key": s} for k, s in [FILE_KEY]])
        )
        path.chmod(0o600)
        args += ["--credentials", str(path)]
    if source in ("env", "both"):
        env = {"MONTEMAP_ACCESS_KEY_ID": ENV_KEY[0], "MONTEMAP_SECRET_ACCESS_KEY": ENV_KEY[1]}
    return make(extra_args=args, env=env), (ENV_KEY if source == "env" else FILE_KEY)


@pytest.mark.parametrize("source", ["file", "env", "both"])
def test_workers_and_sdk_integrations_of_a_keyed_server_are_accepted(
    server_factory: Callable[..., MontemapServer], tmp_path: Path, source: str
) -> None:
    server, key = _keyed_server(server_factory, tmp_path, source)
    sfn, ecs = _client(server, "stepfunctions", key), _client(server, "ecs", key)
    activity = sfn.create_activity(name="echo")["activityArn"]
    command = [sys.executable, "-m", "montemap.cli", "worker", "--endpoint", server.url]
    command += [
        "--activity-arn",
        activity,
        "--handler",
        "tests.worker.worker_handlers:log_and_echo",
    ]
    ecs.register_task_definition(
        family="echo",
        containerDefinitions=[
            {
                "name": "worker",
                "image": "montemap",
                "command": command,
                "environment": [{"name": "PYTHONPATH", "value": str(REPO)}],
            }
        ],
    )
    ecs.create_service(cluster="default", serviceName="echo", taskDefinition="echo", desiredCount=1)
    definition = {
        "StartAt": "Who",
        "States": {
            "Who": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sts:getCallerIdentity",
                "Parameters": {},
                "ResultSelector": {"arn.$": "$.Arn"},
                "ResultPath": "$.who",
                "Next": "Work",
            },
            "Work": {"Type": "Task", "Resource": activity, "TimeoutSeconds": 60, "End": True},
        },
    }
    machine = sfn.create_state_machine(name="own", definition=json.dumps(definition), roleArn=ROLE)
    run = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"value": 3}')

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=run["executionArn"])
        return None if described["status"] == "RUNNING" else described

    described = eventually(ended, timeout=60, what="the execution to end")
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    output = json.loads(described["output"])
    assert output["value"] == 3
    # The integration signed as the server itself, not as a configured key.
    assert f"user/{SERVER_KEY_PREFIX}" in output["who"]["arn"]
    assert SERVER_KEY_PREFIX not in server.log_text()  # never logged (nor, so, its secret)


def test_a_keyed_server_still_refuses_other_keys(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server, _ = _keyed_server(server_factory, tmp_path, "file")
    for key in [("montemap", "montemap-local-secret"), (server_key().access_key_id, "x" * 40)]:
        with pytest.raises(ClientError) as info:
            _client(server, "stepfunctions", key).list_activities()
        assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_each_server_key_is_fresh_and_its_secret_hidden() -> None:
    first, second = server_key(), server_key()
    assert first.access_key_id != second.access_key_id
    assert first.secret_access_key != second.secret_access_key
    assert len(first.secret_access_key) >= 40
    assert first.secret_access_key not in repr(first)
