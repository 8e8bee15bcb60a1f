"""The worker's SigV4 signer gives the same Authorization header as botocore's."""

from __future__ import annotations

import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from montemap.worker.sfn_signing import FrozenCredentials, canonical_path, signed_headers


def botocore_signature(
    credentials: FrozenCredentials, *, url: str, target: str, body: bytes, region: str
) -> tuple[str, str]:
    """botocore's Authorization header for the request, and the X-Amz-Date it used."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
    )
    creds = Credentials(credentials.access_key, credentials.secret_key, credentials.token)
    SigV4Auth(creds, "states", region).add_auth(request)
    return str(request.headers["Authorization"]), str(request.headers["X-Amz-Date"])


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("https://states.eu-west-1.amazonaws.com/", "states.eu-west-1.amazonaws.com", "/"),
        ("http://127.0.0.1:8083/", "127.0.0.1:8083", "/"),
        ("http://localhost:9000/prefix/sfn/", "localhost:9000", "/prefix/sfn/"),
    ],
)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE-session/token+=="])
@pytest.mark.parametrize(
    "params",
    [
        {"activityArn": "arn:aws:states:eu-west-1:123456789012:activity:a", "workerName": "w"},
        {"taskToken": "tok", "output": json.dumps({"x": "é ü  two  spaces"})},
    ],
)
def test_same_signature_as_botocore(
    url: str, host: str, path: str, token: str | None, params: dict[str, str]
) -> None:
    credentials = FrozenCredentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token
    )
    region = "eu-west-1"
    target = "AWSStepFunctions.GetActivityTask"
    body = json.dumps(params).encode()
    expected, amz_date = botocore_signature(
        credentials, url=url, target=target, body=body, region=region
    )
    headers = signed_headers(
        credentials,
        region=region,
        host=host,
        path=path,
        target=target,
        content_type="application/x-amz-json-1.0",
        body=body,
        amz_date=amz_date,
    )
    assert headers["authorization"] == expected
    assert headers["x-amz-date"] == amz_date
    assert headers.get("x-amz-security-token") == token


def test_a_different_secret_or_body_changes_the_signature() -> None:
    def signature(secret: str, body: bytes) -> str:
        return signed_headers(
            FrozenCredentials("AKID", secret),
            region="us-east-1",
            host="h",
            path="/",
            target="AWSStepFunctions.SendTaskHeartbeat",
            content_type="application/x-amz-json-1.0",
            body=body,
            amz_date="20261206T120000Z",
        )["authorization"]

    base = signature("secret-secret-secret", b"{}")
    assert signature("secret-secret-secreT", b"{}") != base
    assert signature("secret-secret-secret", b"{ }") != base
    assert "Credential=AKID/20261206/us-east-1/states/aws4_request" in base


def test_canonical_path_encodes_once() -> None:
    assert canonical_path("") == "/"
    assert canonical_path("/a b/~c") == "/a%20b/~c"
