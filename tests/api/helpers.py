"""Helpers shared by the API tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from montemap.api.protocol import CONTENT_TYPE
from montemap.testing.server import DUMMY_AWS_ENV

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


def cli_caller_identity(url: str, key_id: str, secret: str) -> dict[str, Any]:
    """``aws sts get-caller-identity`` (the AWS CLI of this virtualenv) against ``url``,
    signed with ``key_id``/``secret`` and no other credentials; its answer."""
    env = {**os.environ, **DUMMY_AWS_ENV}
    env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    env.pop("AWS_SESSION_TOKEN", None)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("aws")), "sts", "get-caller-identity",
         "--endpoint-url", url],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
