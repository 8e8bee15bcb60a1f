"""One SigV4 verifier for every service on the port: signed boto3 calls pass, others fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer

REGION = "us-east-1"
KEY_ID = "BYOSIGNEDKEY"
SECRET = "byo-signed-secret-0123456789"

Service = Literal["stepfunctions", "ecs", "s3", "lambda", "cloudformation", "iam"]

#: service -> (a read call that succeeds on a fresh server, its result's key)
CALLS: dict[Service, tuple[Callable[[Any], dict[str, Any]], str]] = {
    "stepfunctions": (lambda c: c.list_activities(), "activities"),
    "ecs": (lambda c: c.list_clusters(), "clusterArns"),
    "s3": (lambda c: c.list_buckets(), "Buckets"),
    "lambda": (lambda c: c.list_functions(), "Functions"),
    "cloudformation": (lambda c: c.list_stacks(), "StackSummaries"),
    "iam": (lambda c: c.list_roles(), "Roles"),
}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = MontemapServer(
        tmp_path_factory.mktemp("signed") / "data",
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET},
    )
    server.start()
    yield server
    server.close()


def _client(server: MontemapServer, service: Service, key: str, secret: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_signed_call_is_accepted(keyed_server: MontemapServer, service: Service) -> None:
    call, key = CALLS[service]
    result = call(_client(keyed_server, service, KEY_ID, SECRET))
    assert isinstance(result[key], list)


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_wrong_secret_is_refused(keyed_server: MontemapServer, service: Service) -> None:
    call, _ = CALLS[service]
    with pytest.raises(ClientError) as caught:
        call(_client(keyed_server, service, KEY_ID, "not-the-secret-0123456789"))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    assert "Signature" in caught.value.response["Error"]["Code"] or (
        "signature" in str(caught.value).lower()
    )


@pytest.mark.parametrize("service", sorted(CALLS))
def test_an_unknown_key_is_refused(keyed_server: MontemapServer, service: Service) -> None:
    call, _ = CALLS[service]
    with pytest.raises(ClientError) as caught:
        call(_client(keyed_server, service, "NOSUCHKEY", SECRET))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


def _signed(service: str) -> Any:
    """A request signed by botocore for ``service``, as montemap's verifier sees it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from montemap.api.sigv4 import IncomingRequest

    request = AWSRequest(method="POST", url="http://127.0.0.1:8083/", data=b"{}")
    SigV4Auth(Credentials(KEY_ID, SECRET), service, REGION).add_auth(request)
    headers = [("host", "127.0.0.1:8083")]
    headers += [(k.lower(), str(v)) for k, v in request.headers.items()]
    return IncomingRequest(method="POST", path="/", query="", headers=headers, body=b"{}")


def test_the_verifier_is_scoped_per_service() -> None:
    from montemap.api.credentials import AccessKey, CredentialStore, SigV4Authenticator
    from montemap.errors import ApiError

    verifier = SigV4Authenticator(CredentialStore([AccessKey(KEY_ID, SECRET)]), region=REGION)
    assert verifier.for_service("lambda").authenticate(_signed("lambda")) == KEY_ID
    assert verifier.for_service("s3", "lambda").authenticate(_signed("s3")) == KEY_ID
    with pytest.raises(ApiError) as caught:
        verifier.for_service("s3").authenticate(_signed("lambda"))
    assert "'s3'" in caught.value.message
    with pytest.raises(ApiError):  # no X-Amz-Target: Step Functions' or ECS's scope only
        verifier.authenticate(_signed("cloudformation"))
