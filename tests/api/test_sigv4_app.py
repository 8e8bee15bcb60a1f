"""The SigV4 authenticator plugged into the API app (in-process HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from montemap.api.credentials import AccessKey, CredentialStore, SigV4Authenticator
from montemap.api.protocol import CONTENT_TYPE

from .helpers import ApiClient

KEY_ID = "AKIAAPPTEST"
SECRET = "app-test-secret-0123456789"
REGION = "us-east-1"


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(app_factory: Callable[..., ApiClient], clock: Clock) -> ApiClient:
    store = CredentialStore([AccessKey(KEY_ID, SECRET)])
    return app_factory(authenticator=SigV4Authenticator(store, region=REGION, clock=clock))


def post(
    api: ApiClient,
    action: str,
    body: dict[str, Any],
    *,
    secret: str | None = SECRET,
    key_id: str = KEY_ID,
    service: str = "states",
    target_prefix: str = "AWSStepFunctions.",
) -> Any:
    """POST one action signed by botocore (unsigned when ``secret`` is None)."""
    raw = json.dumps(body).encode()
    headers = {"X-Amz-Target": f"{target_prefix}{action}", "Content-Type": CONTENT_TYPE}
    request = AWSRequest(method="POST", url="http://testserver/", data=raw, headers=headers)
    if secret is not None:
        SigV4Auth(Credentials(key_id, secret), service, REGION).add_auth(request)
    return api.http.post("/", content=raw, headers=dict(request.headers.items()))


def assert_error(response: Any, code: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["__type"].endswith(f"#{code}")
    assert response.headers["x-amzn-ErrorType"] == code


def test_signed_request_is_served(api: ApiClient) -> None:
    response = post(api, "ListStateMachines", {})
    assert response.status_code == 200, response.text
    assert response.json() == {"stateMachines": []}
    created = post(api, "CreateActivity", {"name": "signed"})
    assert created.status_code == 200, created.text


def test_unsigned_request_is_refused(api: ApiClient) -> None:
    assert_error(
        post(api, "ListStateMachines", {}, secret=None), "MissingAuthenticationTokenException"
    )
    assert_error(api.call("ListStateMachines", {}), "MissingAuthenticationTokenException")


def test_wrong_secret_and_unknown_key(api: ApiClient) -> None:
    wrong = post(api, "ListStateMachines", {}, secret="wrong-secret-0123456789")
    assert_error(wrong, "InvalidSignatureException")
    assert SECRET not in wrong.text
    assert_error(
        post(api, "ListStateMachines", {}, key_id="AKIANOBODY"), "UnrecognizedClientException"
    )


def test_refused_before_the_action_runs(api: ApiClient) -> None:
    wrong = post(api, "CreateActivity", {"name": "never"}, secret="wrong-secret-0123456789")
    assert_error(wrong, "InvalidSignatureException")
    listed = post(api, "ListActivities", {})
    assert listed.json()["activities"] == []


def test_clock_skew(api: ApiClient, clock: Clock) -> None:
    clock.offset = timedelta(minutes=16)
    response = post(api, "ListStateMachines", {})
    assert_error(response, "InvalidSignatureException")
    assert "Signature expired" in response.json()["message"]
    clock.offset = timedelta(minutes=14)
    assert post(api, "ListStateMachines", {}).status_code == 200


def test_service_follows_the_target(api: ApiClient) -> None:
    """A Step Functions call must be scoped to ``states``, an ECS one to ``ecs``."""
    response = post(api, "ListStateMachines", {}, service="ecs")
    assert_error(response, "InvalidSignatureException")
    assert "correct service: 'states'" in response.json()["message"]
    ecs = post(
        api,
        "ListServices",
        {},
        service="ecs",
        target_prefix="AmazonEC2ContainerServiceV20141113.",
    )
    # Authenticated; this app does not dispatch ECS, so the operation is unknown.
    assert_error(ecs, "UnknownOperationException")


def test_health_needs_no_signature(api: ApiClient) -> None:
    assert api.http.get("/health").status_code == 200
