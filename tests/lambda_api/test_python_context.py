"""The Python handler's context object, as Lambda's runtime documents it.

``identity`` always has its two Cognito fields (None when the caller sent no
Cognito identity), ``tenant_id`` is None for a function without tenant
isolation, and ``log_group_name`` (with ``AWS_LAMBDA_LOG_GROUP_NAME``) is the
function's ``LoggingConfig.LogGroup`` when it names one.
"""

from __future__ import annotations

import json
from typing import Any

from tests.lambda_api.helpers import create

CONTEXT_REPORT = {
    "index.py": """
    import os
    def handler(event, context):
        return {
            "cognito_identity_id": context.identity.cognito_identity_id,
            "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
            "tenant_id": context.tenant_id,
            "client_context": context.client_context,
            "log_group_name": context.log_group_name,
            "log_group_variable": os.environ["AWS_LAMBDA_LOG_GROUP_NAME"],
            "log_stream_name": context.log_stream_name,
            "request": context.aws_request_id,
        }
    """,
}


def _invoke(client: Any, name: str) -> dict[str, Any]:
    response = client.invoke(FunctionName=name, Payload=b"{}")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_identity_and_tenant_are_there_without_values(lambda_client: Any) -> None:
    create(lambda_client, "ctx-plain", CONTEXT_REPORT)
    found = _invoke(lambda_client, "ctx-plain")
    assert found["cognito_identity_id"] is None
    assert found["cognito_identity_pool_id"] is None
    assert found["tenant_id"] is None
    assert found["client_context"] is None
    assert found["log_group_name"] == found["log_group_variable"] == "/aws/lambda/ctx-plain"
    assert found["log_stream_name"].split("/")[3].startswith("[$LATEST]")


def test_a_custom_log_group_is_the_functions(lambda_client: Any) -> None:
    create(
        lambda_client,
        "ctx-logs",
        CONTEXT_REPORT,
        LoggingConfig={"LogFormat": "Text", "LogGroup": "shared/app-logs"},
    )
    found = _invoke(lambda_client, "ctx-logs")
    assert found["log_group_name"] == found["log_group_variable"] == "shared/app-logs"
    # Streams of a custom group name the function (the group may be shared).
    assert found["log_stream_name"].split("/")[3].startswith("ctx-logs[$LATEST]")
