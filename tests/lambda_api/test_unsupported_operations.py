"""Lambda operations this server does not serve are refused naming the operation (from
botocore's model), so a user sees at once which feature is missing."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from tests.lambda_api.helpers import create


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> str:
    create(lambda_client, "unserved-ops", {"index.py": "def handler(e, c):\n    return e\n"})
    return "unserved-ops"


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("create_event_source_mapping", {"EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:q"}),
        ("list_event_source_mappings", {}),
        ("get_function_url_config", {}),
        (
            "put_provisioned_concurrency_config",
            {"Qualifier": "1", "ProvisionedConcurrentExecutions": 1},
        ),
        ("list_layers", None),
        ("get_layer_version_by_arn", {"Arn": "arn:aws:lambda:us-east-1:123456789012:layer:l:1"}),
    ],
)
def test_an_operation_not_served_is_named(
    lambda_client: Any, function: str, operation: str, kwargs: dict[str, Any] | None
) -> None:
    call = getattr(lambda_client, operation)
    if kwargs is None:
        args: dict[str, Any] = {}
    elif "Arn" in kwargs:
        args = kwargs
    else:
        args = {"FunctionName": function, **kwargs}
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(**args)
    error = refused.value.response["Error"]
    name = lambda_client.meta.method_to_api_mapping[operation]
    assert error["Code"] == "UnknownOperationException"
    assert error["Message"].startswith(f"Lambda's {name} operation is not supported by montemap")
