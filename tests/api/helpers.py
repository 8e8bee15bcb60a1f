"""Helpers shared by the API tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.testclient import TestClient

from montemap.api.protocol import CONTENT_TYPE

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-test"
PASS_DEFINITION = (
    '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": true}, "End": true}}}'
)


def unique(prefix: str = "x") -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def machine(client: Any, definition: str = PASS_DEFINITION, **kwargs: Any) -> str:
    """A new state machine (boto3 ``client``); its ARN."""
    arn: str = client.create_state_machine(
        name=unique("sm"), definition=definition, roleArn=ROLE_ARN, **kwargs
    )["stateMachineArn"]
    return arn


class ApiClient:
    """Posts protocol requests to an in-process app."""

    def __init__(self, http: TestClient) -> None:
        self.http = http

    def call(
        self,
        action: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """POST one action; returns the httpx response."""
        sent = {"X-Amz-Target": f"AWSStepFunctions.{action}", "Content-Type": CONTENT_TYPE}
        sent.update(headers or {})
        if raw is None:
            raw = json.dumps({} if body is None else body).encode()
        return self.http.post("/", content=raw, headers=sent)
