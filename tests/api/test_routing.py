"""Which service a request on the shared endpoint goes to."""

from __future__ import annotations

from starlette.types import Scope

from montemap.api.routing import signing_service, unsigned_service


def scope(
    path: str = "/", method: str = "GET", headers: dict[str, str] | None = None, query: str = ""
) -> Scope:
    return {
        "type": "http",
        "path": path,
        "method": method,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }


def auth(service: str) -> dict[str, str]:
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/{service}/"
        "aws4_request, SignedHeaders=host, Signature=" + "0" * 64
    }


def test_signed_requests_go_by_their_credential_scope() -> None:
    assert signing_service(scope(headers=auth("s3"))) == "s3"
    assert signing_service(scope("/2015-03-31/functions", headers=auth("lambda"))) == "lambda"
    assert signing_service(scope(method="POST", headers=auth("states"))) == "states"


def test_presigned_urls_go_by_their_query_credential() -> None:
    query = "X-Amz-Credential=AKID%2F20261206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab"
    assert signing_service(scope("/bucket/key", query=query)) == "s3"


def test_unsigned_requests_go_by_their_shape() -> None:
    assert signing_service(scope()) is None
    target = {"X-Amz-Target": "AWSStepFunctions.ListActivities"}
    assert unsigned_service(scope(method="POST", headers=target)) == "json"
    assert unsigned_service(scope("/2015-03-31/functions/f/invocations", "POST")) == "lambda"
    # Tags, reserved concurrency and account settings have later dates in their paths.
    for path in (
        "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af",
        "/2017-10-31/functions/f/concurrency",
        "/2019-09-30/functions/f/concurrency",
        "/2016-08-19/account-settings/",
        "/2021-11-15/functions/f/response-streaming-invocations",
    ):
        assert unsigned_service(scope(path)) == "lambda", path
    assert unsigned_service(scope("/2017-03-31/object.csv")) == "s3"  # a bucket so named
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert unsigned_service(scope(method="POST", headers=form), "2010-05-15") == "cloudformation"
    assert unsigned_service(scope(method="POST", headers=form), "2010-05-08") == "iam"
    assert unsigned_service(scope("/my-bucket/a/b.csv", "PUT")) == "s3"
    assert unsigned_service(scope("/health")) is None
    assert unsigned_service(scope("/console/executions")) is None
    assert unsigned_service(scope("/")) is None
