"""The query protocol's common errors on CloudFormation, IAM and STS, as AWS answers them.

Refused signatures on a server with keys: each service answers the Common
Errors' codes and statuses, as AWS does.

AWS's Common Errors for these APIs: ``InvalidClientTokenId`` (an access key id
it does not know, 403), ``SignatureDoesNotMatch`` (403), ``MissingAuthenticationToken``
(no credentials, 403) and ``IncompleteSignature`` (400), in an ``<ErrorResponse>``
document; the JSON services' names (``UnrecognizedClientException``...) are never
seen by a query-protocol client; an expired session token is ``ExpiredToken`` (403).
A form without an ``Action`` is ``MissingAction``
(400), one naming an action the service does not have ``InvalidAction`` (400), a body
that is not UTF-8 ``InvalidQueryParameter`` (400).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from starlette.testclient import TestClient

from montemap.api.credentials import AccessKey, CredentialStore
from montemap.cloudformation.http import QueryApp
from montemap.sts import identity
from montemap.sts.actions import Sts
from montemap.sts.http import StsApp
from montemap.sts.sessions import SessionAuthenticator, SessionStore
from montemap.testing import MontemapServer

REGION = "us-east-1"
KEY_ID = "QUERYKEY"
SECRET = "query-auth-secret-0123456789abcdef"
#: Each query service, an action that reads only, and the ``Version`` of its forms.
SERVICES = {
    "iam": ("list_roles", "ListRoles", "2010-05-08"),
    "cloudformation": ("list_stacks", "ListStacks", "2010-05-15"),
    "sts": ("get_caller_identity", "GetCallerIdentity", "2011-06-15"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(
        tmp_path_factory.mktemp("query-auth") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


def refusal(server: MontemapServer, service: str, key_id: str, secret: str) -> tuple[str, int]:
    session: Any = boto3.session.Session()
    client = session.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as refused:
        getattr(client, SERVICES[service][0])()
    response = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def post(
    server: MontemapServer, service: str, headers: dict[str, str], action: str | None = None
) -> tuple[int, bytes]:
    _, known, version = SERVICES[service]
    fields = f"Version={version}" if action == "" else f"Action={action or known}&Version={version}"
    request = urllib.request.Request(
        server.url + "/",
        data=fields.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    return refused.value.code, refused.value.read()


@pytest.mark.parametrize("service", list(SERVICES))
def test_an_unknown_access_key_is_invalid_client_token_id(
    server: MontemapServer, service: str
) -> None:
    assert refusal(server, service, "NOBODY", "x" * 40) == ("InvalidClientTokenId", 403)


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_wrong_secret_is_signature_does_not_match(server: MontemapServer, service: str) -> None:
    assert refusal(server, service, KEY_ID, "x" * 40) == ("SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("service", list(SERVICES))
def test_an_unsigned_request_is_missing_authentication_token(
    server: MontemapServer, service: str
) -> None:
    status, body = post(server, service, {})
    assert status == 403
    assert b"<ErrorResponse" in body
    assert b"<Code>MissingAuthenticationToken</Code>" in body


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_signature_without_its_parts_is_incomplete(server: MontemapServer, service: str) -> None:
    credential = f"{KEY_ID}/20260101/{REGION}/{service}/aws4_request"
    header = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host"
    status, body = post(server, service, {"Authorization": header})
    assert status == 400
    assert b"<Code>IncompleteSignature</Code>" in body


def test_the_aws_cli_names_the_code(server: MontemapServer, tmp_path: Path) -> None:
    aws = Path(sys.executable).with_name("aws")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "NOBODY",
        "AWS_SECRET_ACCESS_KEY": "x" * 40,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [str(aws), "--endpoint-url", server.url, "iam", "list-roles"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "(InvalidClientTokenId)" in done.stderr


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    server = MontemapServer(tmp_path_factory.mktemp("query-open") / "data")
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_form_without_an_action_is_missing_action(
    open_server: MontemapServer, service: str
) -> None:
    status, body = post(open_server, service, {}, action="")
    assert status == 400
    assert b"<Code>MissingAction</Code>" in body


@pytest.mark.parametrize("service", list(SERVICES))
def test_an_action_the_service_lacks_is_invalid_action(
    open_server: MontemapServer, service: str
) -> None:
    status, body = post(open_server, service, {}, action="NoSuchThing")
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body
    assert b"NoSuchThing" in body


async def _no_iam_action(action: str, params: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError(f"{action} ran with an expired token")


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_an_expired_session_token_is_expired_token(service: str) -> None:
    now = datetime.now(UTC)
    clock = [now - timedelta(seconds=901)]  # issued 901 s ago, for 900 s
    sessions = SessionStore(lambda: clock[0])
    keys = CredentialStore([AccessKey(KEY_ID, SECRET)])
    auth = SessionAuthenticator(keys, sessions, region=REGION, clock=lambda: clock[0])
    role = identity.assumed_role("arn:aws:iam::123456789012:role/Worker", "expired")
    session = sessions.issue(role, 900, "AssumeRole")
    clock[0] = now
    app: Any = (
        StsApp(Sts(sessions, "123456789012", keys_configured=True), auth)
        if service == "sts"
        else QueryApp("iam", _no_iam_action, auth)
    )
    _, action, version = SERVICES[service]
    body = f"Action={action}&Version={version}".encode()
    request = AWSRequest(
        method="POST",
        url="http://testserver/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    credentials = Credentials(
        session.access_key_id, session.secret_access_key, session.session_token
    )
    SigV4Auth(credentials, service, REGION).add_auth(request)
    answer = TestClient(app).post("/", content=body, headers=dict(request.headers.items()))
    assert answer.status_code == 403
    assert "<Code>ExpiredToken</Code>" in answer.text


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_body_that_is_not_utf8_is_a_client_error(
    open_server: MontemapServer, service: str
) -> None:
    _, action, version = SERVICES[service]
    request = urllib.request.Request(
        open_server.url + "/",
        data=f"Action={action}&Version={version}&Name=".encode() + b"\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert b"<Code>InvalidQueryParameter</Code>" in refused.value.read()


def test_a_browser_may_not_create_a_stack_but_may_read(open_server: MontemapServer) -> None:
    """CreateStack runs a template's code: a request a browser marks is refused (403)."""
    template = '{"Resources": {}}'
    body = f"Action=CreateStack&Version=2010-05-15&StackName=web&TemplateBody={template}"
    request = urllib.request.Request(
        open_server.url + "/",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert b"<ErrorResponse" in refused.value.read()
    listing = urllib.request.Request(
        open_server.url + "/",
        data=b"Action=ListRoles&Version=2010-05-08",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    with urllib.request.urlopen(listing, timeout=10) as answer:
        assert b"<ListRolesResponse" in answer.read()
