"""The worker's own Step Functions client against a real server that checks signatures.

``montemap server`` with an access key configured refuses requests that are
not SigV4-signed by that key, so each successful call here proves the
signature; a wrong secret is refused. Connection-level failures the server
does not produce on purpose (5xx, non-JSON bodies, a kept-alive connection
closed under a request) come from a scripted loopback server.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from montemap.testing import REGION, MontemapServer
from montemap.worker.client import TaskApi, describe_api_error, is_gone, is_transient, make_client
from montemap.worker.sfn_config import StaticCredentials
from montemap.worker.sfn_http import SfnHttpClient, SfnResponseError
from montemap.worker.sfn_signing import FrozenCredentials

from .scripted_server import HANG_UP, SILENCE, Reply, scripted
from .worker_support import assert_eventually, finished, free_port

KEY_ID = "WORKERKEY"
SECRET = "worker-secret-0123456789"
ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-worker-test"
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SFN",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No AWS configuration but what the test sets."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("signed") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def admin(signed_server: MontemapServer) -> Iterator[Any]:
    client = boto3.session.Session().client(
        "stepfunctions",
        endpoint_url=signed_server.url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )
    yield client
    client.close()


def http_client(url: str, secret: str = SECRET, **options: Any) -> SfnHttpClient:
    credentials = StaticCredentials(FrozenCredentials(KEY_ID, secret))
    return SfnHttpClient(endpoint_url=url, region=REGION, credentials=credentials, **options)


def start_task(admin: Any, name: str) -> tuple[str, str]:
    """An activity and a running execution waiting on it: (activity ARN, execution ARN)."""
    activity = admin.create_activity(name=name)["activityArn"]
    state = {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 60, "End": True}
    definition = {"StartAt": "T", "States": {"T": state}}
    machine = admin.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    execution = admin.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    return activity, execution


# ----------------------------------------------------------------------------- the calls


def test_poll_heartbeat_and_success_are_signed_and_accepted(admin: Any, signed_server: Any) -> None:
    activity, execution = start_task(admin, "calls-success")
    client = http_client(signed_server.url)
    try:
        task = client.get_activity_task(activityArn=activity, workerName="w-http")
        assert json.loads(task["input"]) == {"n": 1}
        assert task["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert client.send_task_heartbeat(taskToken=task["taskToken"])["ResponseMetadata"]
        client.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
        described = assert_eventually(lambda: finished(admin, execution))
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"done": True}
        events = admin.get_execution_history(executionArn=execution)["events"]
        started = [e for e in events if e["type"] == "ActivityStarted"]
        assert started[0]["activityStartedEventDetails"]["workerName"] == "w-http"
        # the same task again: gone
        with pytest.raises(ClientError) as again:
            client.send_task_success(taskToken=task["taskToken"], output="{}")
        assert is_gone(again.value) and not is_transient(again.value)
    finally:
        client.close()


def test_failure_reaches_the_execution(admin: Any, signed_server: Any) -> None:
    activity, execution = start_task(admin, "calls-failure")
    client = http_client(signed_server.url)
    try:
        token = client.get_activity_task(activityArn=activity, workerName="w")["taskToken"]
        client.send_task_failure(taskToken=token, error="Test.Error", cause="why not")
        described = assert_eventually(lambda: finished(admin, execution))
        assert (described["status"], described["error"], described["cause"]) == (
            "FAILED",
            "Test.Error",
            "why not",
        )
    finally:
        client.close()


def test_task_api_reports_through_the_http_client(admin: Any, signed_server: Any) -> None:
    activity, execution = start_task(admin, "calls-task-api")
    client = http_client(signed_server.url)
    api = TaskApi(client)
    try:
        task = api.poll(activity, "w-api")
        assert task is not None and json.loads(task.input) == {"n": 1}
        assert api.heartbeat(task.token) is True
        assert api.succeed(task.token, "[1, 2]") is True
        assert json.loads(assert_eventually(lambda: finished(admin, execution))["output"]) == [1, 2]
        assert api.heartbeat(task.token) is False  # gone now
        assert api.succeed(task.token, "{}") is False
    finally:
        client.close()


# ----------------------------------------------------------------------------- refusals


def test_a_wrong_secret_is_refused(admin: Any, signed_server: Any) -> None:
    activity = admin.create_activity(name="calls-wrong-key")["activityArn"]
    client = http_client(signed_server.url, secret="not-the-secret-0123456789")
    try:
        with pytest.raises(ClientError) as refused:
            client.get_activity_task(activityArn=activity, workerName="w")
        status = refused.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status in (400, 403)
        assert not is_transient(refused.value) and not is_gone(refused.value)
        assert "signature" in describe_api_error(refused.value).lower()
    finally:
        client.close()


def test_an_unknown_activity_is_an_error_for_the_caller(admin: Any, signed_server: Any) -> None:
    client = http_client(signed_server.url)
    missing = f"arn:aws:states:{REGION}:123456789012:activity:nowhere"
    try:
        with pytest.raises(ClientError) as refused:
            client.get_activity_task(activityArn=missing, workerName="w")
        assert refused.value.response["Error"]["Code"] == "ActivityDoesNotExist"
        assert not is_transient(refused.value) and not is_gone(refused.value)
        assert describe_api_error(refused.value).startswith("ActivityDoesNotExist: ")
        with pytest.raises(ClientError) as bad_token:
            client.send_task_heartbeat(taskToken="not-a-token")
        assert is_gone(bad_token.value)  # InvalidToken
    finally:
        client.close()


def test_no_credentials_is_raised_at_the_call() -> None:
    client = SfnHttpClient(endpoint_url="http://127.0.0.1:9", region=REGION, credentials=None)
    with pytest.raises(NoCredentialsError):
        client.send_task_heartbeat(taskToken="t")
    client.close()


# ----------------------------------------------------------------------------- credentials


def test_credentials_from_the_environment(
    aws_env: pytest.MonkeyPatch, admin: Any, signed_server: Any
) -> None:
    aws_env.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    activity = admin.create_activity(name="calls-env-keys")["activityArn"]
    client = make_client(region=REGION, endpoint_url=signed_server.url)
    try:
        with pytest.raises(ClientError) as refused:  # signed and accepted: no task yet is fine
            client.get_activity_task(activityArn=activity + "-missing", workerName="w")
        assert refused.value.response["Error"]["Code"] == "ActivityDoesNotExist"
    finally:
        client.close()


@pytest.mark.parametrize(
    ("secret", "accepted"), [(SECRET, True), ("wrong-secret-0123456789", False)]
)
def test_credentials_from_a_shared_credentials_file(
    aws_env: pytest.MonkeyPatch,
    tmp_path: Path,
    admin: Any,
    signed_server: Any,
    secret: str,
    accepted: bool,
) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        f"[default]\naws_access_key_id = nobody\naws_secret_access_key = {'x' * 20}\n"
        f"[worker]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {secret}\n"
    )
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    aws_env.setenv("AWS_PROFILE", "worker")
    client = make_client(region=REGION, endpoint_url=signed_server.url)
    try:
        with pytest.raises(ClientError) as answer:
            client.send_task_heartbeat(taskToken="not-a-token")
        assert is_gone(answer.value) is accepted  # InvalidToken only once the signature passed
    finally:
        client.close()


def test_refreshable_credentials_are_read_per_request(admin: Any, signed_server: Any) -> None:
    """botocore's refreshable credentials: each request signs with the current keys.

    Keys that expire within 15 minutes are refreshed (botocore's advisory
    window) when asked for: the first request gets the second set (right),
    the second request the third (wrong).
    """
    wrong = "refreshed-wrong-0123456789"
    soon, later = time.time() + 700, time.time() + 3600
    keys = iter([(wrong, soon), (SECRET, soon), (wrong, later)])

    def refresh() -> dict[str, str]:
        secret, expiry = next(keys)
        return {
            "access_key": KEY_ID,
            "secret_key": secret,
            "token": "",
            "expiry_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        refresh(), refresh_using=refresh, method="test"
    )
    client = SfnHttpClient(endpoint_url=signed_server.url, region=REGION, credentials=credentials)
    try:
        with pytest.raises(ClientError) as first:
            client.send_task_heartbeat(taskToken="not-a-token")
        assert is_gone(first.value)  # signature accepted, the token is not
        with pytest.raises(ClientError) as second:
            client.send_task_heartbeat(taskToken="not-a-token")
        assert not is_gone(second.value)  # refused: signed with the third set
        assert second.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    finally:
        client.close()


# ----------------------------------------------------------------------------- transport


def test_reconnects_after_the_server_restarts(server_factory: Any) -> None:
    server = server_factory(
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET}
    )
    client = http_client(server.url)
    missing = f"arn:aws:states:{REGION}:123456789012:activity:nowhere"
    try:
        for _ in range(2):
            with pytest.raises(ClientError, match="ActivityDoesNotExist"):
                client.get_activity_task(activityArn=missing, workerName="w")
            server.restart()  # the kept-alive connection dies with the old process
    finally:
        client.close()


def test_a_kept_alive_connection_closed_under_a_request_is_retried_once() -> None:
    steps = (
        Reply(body=b'{"taskToken": "t1", "input": "{}"}'),
        HANG_UP,
        Reply(body=b'{"taskToken": "t2", "input": "[]"}'),
    )
    with scripted(http_client, *steps) as (server, client):
        assert client.get_activity_task(activityArn="a", workerName="w")["taskToken"] == "t1"
        assert client.get_activity_task(activityArn="a", workerName="w")["taskToken"] == "t2"
        assert [r.connection for r in server.requests] == [1, 1, 2]
        assert all(
            r.headers["x-amz-target"] == "AWSStepFunctions.GetActivityTask" for r in server.requests
        )
        assert server.requests[0].headers["content-type"] == "application/x-amz-json-1.0"
        assert server.requests[0].path == "/"


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    with scripted(http_client, Reply(close=True), Reply(body=b'{"x": 1}')) as (server, client):
        client.send_task_heartbeat(taskToken="t")
        assert client.send_task_heartbeat(taskToken="t")["x"] == 1
        assert [r.connection for r in server.requests] == [1, 2]


def test_a_fresh_connection_closed_without_an_answer_is_transient() -> None:
    with scripted(http_client, HANG_UP) as (_, client):
        with pytest.raises(ConnectionClosedError) as closed:
            client.send_task_heartbeat(taskToken="t")
        assert is_transient(closed.value)


def test_connection_refused_and_read_timeout_are_transient() -> None:
    client = http_client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EndpointConnectionError) as refused:
        client.send_task_heartbeat(taskToken="t")
    assert is_transient(refused.value) and "Could not connect" in str(refused.value)
    client.close()
    with scripted(lambda url: http_client(url, read_timeout=0.3), SILENCE) as (_, client):
        with pytest.raises(ReadTimeoutError) as late:
            client.send_task_heartbeat(taskToken="t")
        assert is_transient(late.value)


@pytest.mark.parametrize(
    ("reply", "code", "message", "transient"),
    [
        (
            Reply(
                500, b'{"__type": "com.amazonaws.sfn#InternalFailure:http://x/", "message": "m"}'
            ),
            "InternalFailure",
            "m",
            True,
        ),
        (
            Reply(400, b'{"__type": "ThrottlingException", "Message": "slow down"}'),
            "ThrottlingException",
            "slow down",
            True,
        ),
        (
            Reply(400, b"{}", (("x-amzn-ErrorType", "TaskTimedOut:http://x"),)),
            "TaskTimedOut",
            "",
            False,
        ),
        (Reply(502, b"<html>bad gateway</html>", ()), "502", "<html>bad gateway</html>", True),
        (Reply(503, b"", ()), "503", "", True),  # botocore: an empty body, no message
        (
            Reply(400, b'{"__type": "InvalidOutput", "message": "too big"}'),
            "InvalidOutput",
            "too big",
            False,
        ),
    ],
)
def test_error_responses_keep_botocores_shape(
    reply: Reply, code: str, message: str, transient: bool
) -> None:
    with scripted(http_client, reply) as (_, client):
        with pytest.raises(ClientError) as refused:
            client.send_task_success(taskToken="t", output="{}")
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == (code, message)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == reply.status
        assert is_transient(refused.value) is transient
        assert f"({code}) when calling the SendTaskSuccess operation" in str(refused.value)


def test_a_success_body_that_is_not_a_json_object_is_an_error() -> None:
    not_an_object = pytest.raises(SfnResponseError, match=r"GetActivityTask: .*not a JSON object")
    with scripted(http_client, Reply(200, b"[1]")) as (_, client), not_an_object:
        client.get_activity_task(activityArn="a")
