"""A function runs with temporary credentials of its execution role, as on Lambda.

Each invocation gets ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``
of a session of the function's ``Role`` named after the function, so STS answers
``arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION``; the session is reused while it
has time left, and every service accepts it on servers with keys and without.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from montemap.lambda_api import bootstrap_node
from montemap.testing import MontemapServer
from tests.lambda_api.helpers import create

ACCOUNT = "123456789012"
KEY_ID = "ROLEKEYS"
SECRET = "role-credentials-secret-0123456789"

WHO_AM_I = {
    "index.py": """
    import os
    import boto3
    def handler(event, context):
        me = boto3.client("sts").get_caller_identity()
        buckets = boto3.client("s3").list_buckets()["Buckets"]
        return {
            "arn": me["Arn"],
            "user_id": me["UserId"],
            "account": me["Account"],
            "key": os.environ["AWS_ACCESS_KEY_ID"],
            "token": os.environ["AWS_SESSION_TOKEN"],
            "same_key": os.environ.get("AWS_ACCESS_KEY") == os.environ["AWS_ACCESS_KEY_ID"],
            "buckets": len(buckets),
        }
    """,
}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("role-keys") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


def _invoke(client: Any, name: str) -> dict[str, Any]:
    response = client.invoke(FunctionName=name, Payload=b"{}")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_function_is_its_roles_session_on_a_server_without_keys(lambda_client: Any) -> None:
    create(lambda_client, "role-who", WHO_AM_I, Role=f"arn:aws:iam::{ACCOUNT}:role/app/Worker")
    first = _invoke(lambda_client, "role-who")
    assert first["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Worker/role-who"
    assert first["user_id"].startswith("AROA") and first["user_id"].endswith(":role-who")
    assert first["account"] == ACCOUNT
    assert first["key"].startswith("ASIA") and first["token"]
    assert first["same_key"]
    second = _invoke(lambda_client, "role-who")
    assert (second["key"], second["token"]) == (first["key"], first["token"])  # reused


def test_each_function_gets_its_own_session(lambda_client: Any) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/Shared"
    create(lambda_client, "role-one", WHO_AM_I, Role=role)
    create(lambda_client, "role-two", WHO_AM_I, Role=role)
    one, two = _invoke(lambda_client, "role-one"), _invoke(lambda_client, "role-two")
    assert one["key"] != two["key"]
    assert two["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Shared/role-two"


def test_session_follows_a_changed_role(lambda_client: Any) -> None:
    create(lambda_client, "role-moves", WHO_AM_I, Role=f"arn:aws:iam::{ACCOUNT}:role/Before")
    assert _invoke(lambda_client, "role-moves")["arn"].endswith(":assumed-role/Before/role-moves")
    lambda_client.update_function_configuration(
        FunctionName="role-moves", Role=f"arn:aws:iam::{ACCOUNT}:role/After"
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName="role-moves")
    assert _invoke(lambda_client, "role-moves")["arn"].endswith(":assumed-role/After/role-moves")


def test_role_credentials_are_accepted_by_a_server_with_keys(
    keyed_server: MontemapServer,
) -> None:
    session: Any = boto3.session.Session()
    client = session.client(
        "lambda",
        endpoint_url=keyed_server.url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        create(client, "role-keyed", WHO_AM_I, Role=f"arn:aws:iam::{ACCOUNT}:role/Keyed")
        answer = _invoke(client, "role-keyed")
    finally:
        client.close()
    assert answer["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Keyed/role-keyed"
    assert answer["key"].startswith("ASIA")


NODE_WHO_AM_I = {
    "index.mjs": """
    import {STSClient, GetCallerIdentityCommand} from "@aws-sdk/client-sts";
    export const handler = async () => {
      const me = await new STSClient({}).send(new GetCallerIdentityCommand({}));
      return {arn: me.Arn, token: Boolean(process.env.AWS_SESSION_TOKEN)};
    };
    """,
}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node on the host")
def test_node_function_asks_sts_who_it_is(lambda_client: Any) -> None:
    if bootstrap_node.sdk_modules() is None:
        pytest.fail("the AWS SDK for JavaScript is not installed: run scripts/setup (it needs npm)")
    create(
        lambda_client,
        "role-node",
        NODE_WHO_AM_I,
        Runtime="nodejs22.x",
        Timeout=30,
        Role=f"arn:aws:iam::{ACCOUNT}:role/NodeRole",
    )
    assert _invoke(lambda_client, "role-node") == {
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/NodeRole/role-node",
        "token": True,
    }
