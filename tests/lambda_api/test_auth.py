"""With keys configured, Lambda requests must be signed for the ``lambda`` service."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, MontemapServer
from tests.lambda_api.helpers import create, package

KEY_ID = "LAMBDAKEY"
SECRET = "lambda-secret-0123456789"


def test_signed_requests_only_and_functions_sign_their_own(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(
        env={"MONTEMAP_ACCESS_KEY_ID": KEY_ID, "MONTEMAP_SECRET_ACCESS_KEY": SECRET}
    )
    good = boto3.session.Session().client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )
    create(
        good,
        "auth-fn",
        {
            "index.py": "import boto3\ndef handler(e, c):\n    return len(boto3.client('stepfunctions').list_activities()['activities'])\n"
        },
        Timeout=60,
    )
    response = good.invoke(FunctionName="auth-fn")
    assert "FunctionError" not in response
    assert isinstance(json.loads(response["Payload"].read()), int)
    wrong: Any = server.client("lambda")  # the fixtures' dummy key
    with pytest.raises(ClientError) as refused:
        wrong.list_functions()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


def test_web_pages_cannot_create_functions(
    lambda_server: MontemapServer, lambda_client: Any
) -> None:
    body = json.dumps(
        {
            "FunctionName": "auth-from-browser",
            "Runtime": "python3.12",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Handler": "index.handler",
            "Code": {"ZipFile": base64.b64encode(package({"index.py": "x = 1\n"})).decode()},
        }
    ).encode()
    request = urllib.request.Request(
        f"{lambda_server.url}/2015-03-31/functions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Origin": lambda_server.url},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=30)
    with refused.value:  # the error holds the response: close its socket now, not in a GC cycle
        assert refused.value.code == 403
        assert refused.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="auth-from-browser")
