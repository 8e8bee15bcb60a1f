"""A lone surrogate (JSON's ``\\ud800``) in any string of a Lambda request's body.

No UTF-8 text can carry one. Before, CreateFunction kept it in the handler, the
description or the tags, and a later Invoke answered a bare 500 (the function's
process could not be given the handler). Now the request is refused when it
comes: ``ValidationException`` naming the field, nothing created or changed.
boto3 sends such a string as the JSON escape, as any client would.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.lambda_api.helpers import create

CODE = {"index.py": "def handler(event, context):\n    return event\n"}
LONE = "x\ud800"


def _refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call(*args, **kwargs)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"Handler": f"index.{LONE}"}, "'handler'"),
        ({"Description": LONE}, "'description'"),
        ({"Environment": {"Variables": {"A": LONE}}}, "'environment.variables'"),
        ({"Tags": {"k\udc00": "v"}}, "'tags'"),
        ({"Tags": {"k": LONE}}, "'tags'"),
    ],
)
def test_create_function_refuses_a_lone_surrogate(
    lambda_client: Any, options: dict[str, Any], field: str
) -> None:
    name = f"lone-{abs(hash(field + repr(options))) % 10**8}"
    message = _refused(create, lambda_client, name, CODE, **options)
    assert field in message and "lone surrogate" in message
    with pytest.raises(ClientError) as missing:
        lambda_client.get_function(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_updates_tags_and_aliases_refuse_one_and_the_function_still_runs(
    lambda_client: Any,
) -> None:
    create(lambda_client, "lone-kept", CODE)
    arn = lambda_client.get_function(FunctionName="lone-kept")["Configuration"]["FunctionArn"]
    update = lambda_client.update_function_configuration
    assert "'handler'" in _refused(update, FunctionName="lone-kept", Handler=LONE)
    assert "'description'" in _refused(update, FunctionName="lone-kept", Description=LONE)
    assert "'tags'" in _refused(lambda_client.tag_resource, Resource=arn, Tags={"k": LONE})
    message = _refused(
        lambda_client.create_alias,
        FunctionName="lone-kept",
        Name="live",
        FunctionVersion="$LATEST",
        Description=LONE,
    )
    assert "'description'" in message
    config = lambda_client.get_function(FunctionName="lone-kept")["Configuration"]
    assert (config["Handler"], config.get("Description", "")) == ("index.handler", "")
    answer = lambda_client.invoke(FunctionName="lone-kept", Payload=b'{"a": "\\ud800"}')
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["Payload"].read() == b'{"a": "\\ud800"}'  # the event, as sent
