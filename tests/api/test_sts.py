"""STS on a server without keys: GetCallerIdentity, AssumeRole, GetSessionToken, GetAccessKeyInfo.

A real ``montemap server`` (the ``montemap.testing`` harness), called by boto3's
``sts`` client and by the AWS CLI unchanged; temporary credentials it issues
are then used by other clients, as user code does after ``assume_role``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from montemap.api.routing import signing_service, unsigned_service
from montemap.arns import DEFAULT_ACCOUNT
from montemap.testing import MontemapServer
from tests.api.helpers import cli_caller_identity

REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/service/Worker"
NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(tmp_path_factory.mktemp("sts") / "data")
    server.start()
    yield server
    server.close()


def client(server: MontemapServer, service: str = "sts", **credentials: Any) -> Any:
    """A boto3 client; no client-side parameter checks, so the server's are seen."""
    if not credentials:
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local-secret"}
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
        **credentials,
    )


def temporary(credentials: dict[str, Any]) -> dict[str, Any]:
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def error_code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call(**params)
    code: str = refused.value.response["Error"]["Code"]
    return code


def test_routing_places_sts_requests() -> None:
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "headers": form}
    assert unsigned_service(scope, "2011-06-15") == "sts"
    signed = f"AWS4-HMAC-SHA256 Credential=K/20260101/{REGION}/sts/aws4_request, SignedHeaders=host"
    scope["headers"] = [*form, (b"authorization", signed.encode())]
    assert signing_service(scope) == "sts"


def test_caller_identity_without_keys_is_the_account_root(server: MontemapServer) -> None:
    answer = client(server).get_caller_identity()
    assert answer["Account"] == DEFAULT_ACCOUNT
    assert answer["Arn"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
    assert answer["UserId"] == DEFAULT_ACCOUNT


def test_aws_cli_get_caller_identity(server: MontemapServer) -> None:
    assert cli_caller_identity(server.url, "local", "local-secret")["Account"] == DEFAULT_ACCOUNT


def test_unsigned_form_posts_are_sts_by_version(server: MontemapServer) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    request = urllib.request.Request(
        server.url + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = ElementTree.fromstring(response.read())
        assert response.headers["x-amzn-RequestId"]
    assert document.tag == f"{NAMESPACE}GetCallerIdentityResponse"
    result = document.find(f"{NAMESPACE}GetCallerIdentityResult")
    assert result is not None
    assert result.findtext(f"{NAMESPACE}Account") == DEFAULT_ACCOUNT


def test_unknown_actions_are_an_xml_error(server: MontemapServer) -> None:
    request = urllib.request.Request(
        server.url + "/",
        data=b"Action=DecodeNothing&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    document = ElementTree.fromstring(refused.value.read())
    assert refused.value.code == 400
    assert document.tag == f"{NAMESPACE}ErrorResponse"
    assert document.findtext(f"{NAMESPACE}Error/{NAMESPACE}Code") == "InvalidAction"
    assert document.findtext(f"{NAMESPACE}Error/{NAMESPACE}Type") == "Sender"


def test_assume_role_answers_temporary_credentials(server: MontemapServer) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    answer = client(server).assume_role(
        RoleArn=ROLE_ARN, RoleSessionName="build-42", DurationSeconds=1800
    )
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert len(credentials["AccessKeyId"]) == 20
    assert len(credentials["SecretAccessKey"]) == 40
    assert credentials["SessionToken"]
    lasts = credentials["Expiration"] - before
    assert timedelta(seconds=1795) <= lasts <= timedelta(seconds=1810)
    user = answer["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/Worker/build-42"
    assert user["AssumedRoleId"].startswith("AROA")
    assert user["AssumedRoleId"].endswith(":build-42")
    again = client(server).assume_role(RoleArn=ROLE_ARN, RoleSessionName="other")
    assert (
        again["AssumedRoleUser"]["AssumedRoleId"].split(":")[0]
        == (user["AssumedRoleId"].split(":")[0])
    )
    default = again["Credentials"]["Expiration"] - datetime.now(UTC)
    assert timedelta(seconds=3500) < default <= timedelta(seconds=3600)


def test_assumed_credentials_are_the_role_and_work_everywhere(server: MontemapServer) -> None:
    answer = client(server).assume_role(RoleArn=ROLE_ARN, RoleSessionName="worker")
    creds = temporary(answer["Credentials"])
    me = client(server, **creds).get_caller_identity()
    assert me["Arn"] == answer["AssumedRoleUser"]["Arn"]
    assert me["UserId"] == answer["AssumedRoleUser"]["AssumedRoleId"]
    assert me["Account"] == DEFAULT_ACCOUNT
    sfn = client(server, "stepfunctions", **creds)
    arn = sfn.create_activity(name="sts-assumed")["activityArn"]
    assert arn.startswith(f"arn:aws:states:{REGION}:{me['Account']}:activity:")
    s3 = client(server, "s3", **creds)
    s3.create_bucket(Bucket="sts-assumed")
    s3.put_object(Bucket="sts-assumed", Key="k", Body=b"data")
    assert s3.get_object(Bucket="sts-assumed", Key="k")["Body"].read() == b"data"
    # Role chaining: at most an hour.
    chained = client(server, **creds)
    assert chained.assume_role(RoleArn=ROLE_ARN, RoleSessionName="chained")["Credentials"]
    assert (
        error_code(
            chained.assume_role, RoleArn=ROLE_ARN, RoleSessionName="long", DurationSeconds=3601
        )
        == "ValidationError"
    )
    assert error_code(chained.get_session_token) == "AccessDenied"


@pytest.mark.parametrize(
    "params",
    [
        {"RoleArn": ROLE_ARN, "RoleSessionName": "bad name"},
        {"RoleArn": ROLE_ARN, "RoleSessionName": "x"},
        {"RoleArn": ROLE_ARN, "RoleSessionName": "y" * 65},
        {"RoleArn": ROLE_ARN, "RoleSessionName": "s", "DurationSeconds": 899},
        {"RoleArn": ROLE_ARN, "RoleSessionName": "ok", "DurationSeconds": 899},
        {"RoleArn": ROLE_ARN, "RoleSessionName": "ok", "DurationSeconds": 43201},
        {"RoleArn": "not-an-arn-of-any-kind", "RoleSessionName": "ok"},
        {"RoleArn": f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/Alice", "RoleSessionName": "ok"},
        {"RoleArn": "arn:aws:iam::12345:role/Short", "RoleSessionName": "ok"},
        {"RoleSessionName": "ok"},
        {"RoleArn": ROLE_ARN},
        {"RoleArn": ROLE_ARN, "RoleSessionName": "ok", "ExternalId": "no spaces allowed"},
    ],
)
def test_assume_role_validation(server: MontemapServer, params: dict[str, Any]) -> None:
    assert error_code(client(server).assume_role, **params) == "ValidationError"


def test_assume_role_messages_are_stss(server: MontemapServer) -> None:
    with pytest.raises(ClientError) as refused:
        client(server).assume_role(RoleArn=ROLE_ARN, RoleSessionName="a b")
    message = refused.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected: Value 'a b' at 'roleSessionName'")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as policy:
        client(server).assume_role(RoleArn=ROLE_ARN, RoleSessionName="ok", Policy="{not json")
    assert policy.value.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_source_identity_is_echoed(server: MontemapServer) -> None:
    answer = client(server).assume_role(
        RoleArn=ROLE_ARN,
        RoleSessionName="ok",
        SourceIdentity="alice",
        ExternalId="ext-123",
        Policy='{"Version": "2012-10-17", "Statement": []}',
        Tags=[{"Key": "team", "Value": "data"}],
    )
    assert answer["SourceIdentity"] == "alice"


def test_get_session_token(server: MontemapServer) -> None:
    answer = client(server).get_session_token(DurationSeconds=7200)
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    # The account root's sessions last an hour at most.
    lasts = credentials["Expiration"] - datetime.now(UTC)
    assert timedelta(seconds=3500) < lasts <= timedelta(seconds=3600)
    me = client(server, **temporary(credentials)).get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
    sts = client(server)
    assert error_code(sts.get_session_token, DurationSeconds=800) == "ValidationError"
    assert error_code(sts.get_session_token, DurationSeconds=129601) == "ValidationError"


def test_get_access_key_info(server: MontemapServer) -> None:
    sts = client(server)
    assert sts.get_access_key_info(AccessKeyId="AKIAIOSFODNN7EXAMPLE")["Account"] == (
        DEFAULT_ACCOUNT
    )
    assert error_code(sts.get_access_key_info, AccessKeyId="short") == "ValidationError"
