"""STS on a server with access keys: the key's identity, and temporary credentials accepted.

Credentials that AssumeRole and GetSessionToken issue are signed-checked by
every service of the server (Step Functions, S3, Lambda, CloudFormation, IAM,
STS) with the issued secret, only with their token, and only until they expire.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from montemap.arns import DEFAULT_ACCOUNT
from montemap.testing import MontemapServer
from tests.api.helpers import cli_caller_identity

REGION = "us-east-1"
KEY_ID = "WORKERS"
SECRET = "sts-test-secret-0123456789abcdef"
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/Deployer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("sts-keys") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


def client(server: MontemapServer, service: str = "sts", **credentials: Any) -> Any:
    """A boto3 client signing with the server's key, or with ``credentials``."""
    if not credentials:
        credentials = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET}
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
        **credentials,
    )


def assumed(server: MontemapServer, name: str = "session") -> dict[str, Any]:
    answer = client(server).assume_role(RoleArn=ROLE_ARN, RoleSessionName=name)
    credentials: dict[str, Any] = answer["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def error(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as refused:
        call(**params)
    response = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_key_is_an_iam_user_named_after_it(server: MontemapServer) -> None:
    me = client(server).get_caller_identity()
    assert me["Account"] == DEFAULT_ACCOUNT
    assert me["Arn"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/{KEY_ID}"
    assert me["UserId"].startswith("AIDA") and len(me["UserId"]) == 21
    assert client(server).get_caller_identity()["UserId"] == me["UserId"]


def test_aws_cli_with_the_servers_key(server: MontemapServer) -> None:
    assert cli_caller_identity(server.url, KEY_ID, SECRET)["Arn"].endswith(f":user/{KEY_ID}")


def test_unknown_keys_and_unsigned_requests_are_refused_as_sts_does(
    server: MontemapServer,
) -> None:
    stranger = client(server, aws_access_key_id="NOBODY", aws_secret_access_key="x" * 40)
    assert error(stranger.get_caller_identity) == ("InvalidClientTokenId", 403)
    wrong = client(server, aws_access_key_id=KEY_ID, aws_secret_access_key="x" * 40)
    assert error(wrong.get_caller_identity) == ("SignatureDoesNotMatch", 403)
    request = urllib.request.Request(
        server.url + "/",
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in refused.value.read()


def test_assumed_credentials_work_on_every_service(server: MontemapServer) -> None:
    creds = assumed(server, "everywhere")
    me = client(server, **creds).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/Deployer/everywhere"
    client(server, "stepfunctions", **creds).list_activities()
    s3 = client(server, "s3", **creds)
    s3.create_bucket(Bucket="sts-keys")
    s3.put_object(Bucket="sts-keys", Key="k", Body=b"payload")
    assert s3.get_object(Bucket="sts-keys", Key="k")["Body"].read() == b"payload"
    # A SigV4 presigned URL carries the token as X-Amz-Security-Token.
    session: Any = boto3.session.Session()
    s3v4 = session.client(
        "s3",
        endpoint_url=server.url,
        region_name=REGION,
        config=Config(signature_version="s3v4"),
        **creds,
    )
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": "sts-keys", "Key": "k"})
    assert "X-Amz-Security-Token=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"payload"
    client(server, "lambda", **creds).list_functions()
    client(server, "cloudformation", **creds).list_stacks()
    client(server, "iam", **creds).list_roles()
    client(server, "ecs", **creds).list_clusters()


def test_session_token_credentials_are_the_user(server: MontemapServer) -> None:
    answer = client(server).get_session_token(DurationSeconds=900)["Credentials"]
    creds = {
        "aws_access_key_id": answer["AccessKeyId"],
        "aws_secret_access_key": answer["SecretAccessKey"],
        "aws_session_token": answer["SessionToken"],
    }
    me = client(server, **creds).get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/{KEY_ID}"
    assert error(client(server, **creds).get_session_token) == ("AccessDenied", 403)
    client(server, "stepfunctions", **creds).list_state_machines()


def test_forged_or_missing_tokens_are_refused(server: MontemapServer) -> None:
    creds = assumed(server, "forged")
    forged = {**creds, "aws_session_token": "forged-token"}
    assert error(client(server, **forged).get_caller_identity) == ("InvalidClientTokenId", 403)
    code, _ = error(client(server, "stepfunctions", **forged).list_activities)
    assert code == "UnrecognizedClientException"
    bare = {k: v for k, v in creds.items() if k != "aws_session_token"}
    assert error(client(server, **bare).get_caller_identity)[0] == "InvalidClientTokenId"
    wrong = {**creds, "aws_secret_access_key": "y" * 40}
    assert error(client(server, **wrong).get_caller_identity)[0] == "SignatureDoesNotMatch"
