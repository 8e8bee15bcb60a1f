"""PublishVersion, aliases, and qualifiers in names, ARNs and the Qualifier parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.lambda_api.helpers import create, package

ARN = "arn:aws:lambda:us-east-1:123456789012:function:ver-fn"


def _says(word: str) -> dict[str, str]:
    return {"index.py": f"def handler(e, c):\n    return [{word!r}, c.function_version]\n"}


def _invoke(client: Any, name: str, **kwargs: Any) -> tuple[Any, str]:
    response = client.invoke(FunctionName=name, **kwargs)
    return json.loads(response["Payload"].read()), response["ExecutedVersion"]


def test_versions_aliases_and_qualifiers(lambda_client: Any) -> None:
    create(lambda_client, "ver-fn", _says("one"))
    v1 = lambda_client.publish_version(FunctionName="ver-fn", Description="first")
    assert (v1["Version"], v1["FunctionArn"]) == ("1", f"{ARN}:1")
    again = lambda_client.publish_version(FunctionName="ver-fn")
    assert again["Version"] == "1"  # nothing changed since version 1
    lambda_client.update_function_code(FunctionName="ver-fn", ZipFile=package(_says("two")))
    v2 = lambda_client.publish_version(FunctionName="ver-fn")
    assert v2["Version"] == "2"
    lambda_client.update_function_code(FunctionName="ver-fn", ZipFile=package(_says("three")))
    alias = lambda_client.create_alias(FunctionName="ver-fn", Name="live", FunctionVersion="1")
    assert alias["AliasArn"] == f"{ARN}:live"

    assert _invoke(lambda_client, "ver-fn") == (["three", "$LATEST"], "$LATEST")
    assert _invoke(lambda_client, "ver-fn", Qualifier="1") == (["one", "1"], "1")
    assert _invoke(lambda_client, "ver-fn:2") == (["two", "2"], "2")
    assert _invoke(lambda_client, f"{ARN}:$LATEST") == (["three", "$LATEST"], "$LATEST")
    assert _invoke(lambda_client, f"{ARN}:live") == (["one", "1"], "1")
    assert _invoke(lambda_client, "123456789012:function:ver-fn:2")[1] == "2"

    lambda_client.update_alias(FunctionName="ver-fn", Name="live", FunctionVersion="2")
    assert _invoke(lambda_client, "ver-fn", Qualifier="live") == (["two", "2"], "2")
    assert lambda_client.get_alias(FunctionName="ver-fn", Name="live")["FunctionVersion"] == "2"
    assert [a["Name"] for a in lambda_client.list_aliases(FunctionName="ver-fn")["Aliases"]] == [
        "live"
    ]
    versions = lambda_client.list_versions_by_function(FunctionName="ver-fn")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    config = lambda_client.get_function_configuration(FunctionName="ver-fn", Qualifier="live")
    assert config["Version"] == "2"

    with pytest.raises(ClientError) as in_use:
        lambda_client.delete_function(FunctionName="ver-fn", Qualifier="2")
    assert in_use.value.response["Error"]["Code"] == "ResourceConflictException"
    lambda_client.delete_function(FunctionName="ver-fn", Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="ver-fn", Qualifier="1")
    lambda_client.delete_alias(FunctionName="ver-fn", Name="live")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="ver-fn:live")
    v3 = lambda_client.publish_version(FunctionName="ver-fn")
    assert v3["Version"] == "3"  # numbers are never reused


def test_qualifier_refusals(lambda_client: Any) -> None:
    create(lambda_client, "ver-refusals", _says("x"))
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="ver-refusals", Qualifier="9")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.create_alias(FunctionName="ver-refusals", Name="a", FunctionVersion="9")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.invoke(FunctionName="ver-refusals:1", Qualifier="2")
    lambda_client.create_alias(FunctionName="ver-refusals", Name="a", FunctionVersion="$LATEST")
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.create_alias(FunctionName="ver-refusals", Name="a", FunctionVersion="$LATEST")
