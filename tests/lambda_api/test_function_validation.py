"""CreateFunction's and the aliases' checks as Lambda's API model and docs state them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.lambda_api.helpers import create, package

CODE = {"index.py": "def handler(event, context):\n    return context.function_version\n"}
ROLE = "arn:aws:iam::123456789012:role/test"


def _refusal(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    error = excinfo.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        (
            "Runtime",
            "python9.99",
            "at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [",
        ),
        ("Role", "not-a-role", "at 'role' failed to satisfy constraint"),
        ("Role", "arn:aws:iam::123456789012:user/someone", "at 'role' failed to satisfy"),
        ("Handler", "index handler", "at 'handler' failed to satisfy constraint"),
        ("Handler", "h" * 129, "at 'handler' failed to satisfy constraint"),
        ("Description", "d" * 257, "at 'description' failed to satisfy constraint"),
        ("Layers", ["not-a-layer-arn"], "at 'layers' failed to satisfy constraint"),
        ("Architectures", ["sparc"], "at 'architectures' failed to satisfy constraint"),
    ],
)
def test_create_function_refuses_what_the_api_model_refuses(
    lambda_client: Any, field: str, value: Any, where: str
) -> None:
    code, message = _refusal(
        create, client=lambda_client, name=f"t-bad-{field.lower()}", files=CODE, **{field: value}
    )
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value '")
    assert where in message
    listed = lambda_client.list_functions(MaxItems=10000)["Functions"]
    assert not [f for f in listed if f["FunctionName"].startswith("t-bad-")]


def test_update_configuration_checks_the_same_fields(lambda_client: Any) -> None:
    create(lambda_client, "t-upd", CODE)
    code, _ = _refusal(
        lambda_client.update_function_configuration, FunctionName="t-upd", Runtime="cobol"
    )
    assert code == "ValidationException"
    code, _ = _refusal(
        lambda_client.update_function_configuration, FunctionName="t-upd", Role="nope"
    )
    assert code == "ValidationException"
    kept = lambda_client.get_function_configuration(FunctionName="t-upd")
    assert (kept["Runtime"], kept["Role"]) == ("python3.12", ROLE)


def _versions(client: Any, name: str) -> tuple[str, str]:
    create(client, name, CODE)
    one = client.publish_version(FunctionName=name)["Version"]
    client.update_function_code(
        FunctionName=name, ZipFile=package({"index.py": CODE["index.py"] + "\n"})
    )
    two = client.publish_version(FunctionName=name)["Version"]
    return one, two


def test_weighted_alias_routes_a_share_of_invocations(lambda_client: Any) -> None:
    one, two = _versions(lambda_client, "t-canary")
    routing = {"AdditionalVersionWeights": {two: 0.5}}
    alias = lambda_client.create_alias(
        FunctionName="t-canary", Name="live", FunctionVersion=one, RoutingConfig=routing
    )
    assert alias["RoutingConfig"] == routing
    executed = set()
    for _ in range(30):
        response = lambda_client.invoke(FunctionName="t-canary", Qualifier="live", Payload=b"{}")
        ran = json.loads(response["Payload"].read())
        assert ran == response["ExecutedVersion"]
        executed.add(ran)
    assert executed == {one, two}  # 2 ** -29 to fail by chance
    # an update that does not name RoutingConfig keeps it; an empty map removes it
    kept = lambda_client.update_alias(FunctionName="t-canary", Name="live", Description="d")
    assert kept["RoutingConfig"] == routing
    cleared = lambda_client.update_alias(
        FunctionName="t-canary", Name="live", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert "RoutingConfig" not in cleared
    for _ in range(5):
        response = lambda_client.invoke(FunctionName="t-canary:live", Payload=b"{}")
        assert response["ExecutedVersion"] == one


def test_alias_routing_is_checked(lambda_client: Any) -> None:
    one, two = _versions(lambda_client, "t-routes")
    create_alias = lambda_client.create_alias

    def refused(version: str, weights: dict[str, float]) -> tuple[str, str]:
        return _refusal(
            create_alias,
            FunctionName="t-routes",
            Name="a",
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    assert refused(one, {two: 1.5})[0] == "ValidationException"
    assert refused(one, {one: 0.5})[0] == "InvalidParameterValueException"
    assert refused("$LATEST", {two: 0.5})[0] == "InvalidParameterValueException"
    assert refused(one, {"99": 0.5})[0] == "ResourceNotFoundException"
    assert refused(one, {two: 0.2, "7": 0.1})[0] == "InvalidParameterValueException"  # 3 versions
    assert lambda_client.list_aliases(FunctionName="t-routes")["Aliases"] == []


def test_list_aliases_pages(lambda_client: Any) -> None:
    create(lambda_client, "t-many-aliases", CODE)
    for name in ("a1", "a2", "a3"):
        lambda_client.create_alias(
            FunctionName="t-many-aliases", Name=name, FunctionVersion="$LATEST"
        )
    first = lambda_client.list_aliases(FunctionName="t-many-aliases", MaxItems=2)
    assert [a["Name"] for a in first["Aliases"]] == ["a1", "a2"]
    rest = lambda_client.list_aliases(
        FunctionName="t-many-aliases", MaxItems=2, Marker=first["NextMarker"]
    )
    assert [a["Name"] for a in rest["Aliases"]] == ["a3"] and "NextMarker" not in rest
    pages = lambda_client.get_paginator("list_aliases").paginate(
        FunctionName="t-many-aliases", PaginationConfig={"PageSize": 1}
    )
    assert [a["Name"] for page in pages for a in page["Aliases"]] == ["a1", "a2", "a3"]


def test_layers_are_at_most_five(lambda_client: Any) -> None:
    layers = [f"arn:aws:lambda:us-east-1:123456789012:layer:l{n}:1" for n in range(6)]
    code, message = _refusal(
        create, client=lambda_client, name="t-layers", files=CODE, Layers=layers
    )
    assert (code, message) == (
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/2015-03-31/functions/t-raw/configuration", {"Layers": 5}),
        ("/2015-03-31/functions/t-raw/configuration", {"Layers": "arn"}),
        ("/2015-03-31/functions/t-raw/configuration", {"Architectures": "x86_64"}),
        ("/2015-03-31/functions/t-raw/versions", {"Description": 5}),
        (
            "/2015-03-31/functions/t-raw/aliases",
            {"Name": "a", "FunctionVersion": "$LATEST", "RoutingConfig": "x"},
        ),
    ],
)
def test_wrongly_typed_fields_are_refused_not_failed(
    lambda_client: Any, lambda_server: Any, path: str, body: dict[str, Any]
) -> None:
    try:
        lambda_client.get_function(FunctionName="t-raw")
    except ClientError:
        create(lambda_client, "t-raw", CODE)
    method = "PUT" if path.endswith("configuration") else "POST"
    request = urllib.request.Request(
        lambda_server.url + path, data=json.dumps(body).encode(), method=method
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=30).close()
    with excinfo.value as refused:  # closes the response it holds
        assert refused.code == 400
        assert refused.headers["x-amzn-ErrorType"] in (
            "InvalidParameterValueException",
            "ValidationException",
        )


def test_durable_functions_are_refused_naming_the_feature(lambda_client: Any) -> None:
    """A durable function (``DurableConfig``) needs Lambda's checkpoint service, which is not
    served: CreateFunction and UpdateFunctionConfiguration say so rather than create a plain
    function that would run its workflow once, unrecorded."""
    durable = {"ExecutionTimeout": 3600, "RetentionPeriodInDays": 7}
    code, message = _refusal(
        create, client=lambda_client, name="t-durable", files=CODE, DurableConfig=durable
    )
    assert code == "InvalidParameterValueException"
    assert "DurableConfig" in message and "durable functions" in message
    create(lambda_client, "t-durable-later", CODE)
    code, message = _refusal(
        lambda_client.update_function_configuration,
        FunctionName="t-durable-later",
        DurableConfig=durable,
    )
    assert code == "InvalidParameterValueException" and "durable functions" in message
    names = [f["FunctionName"] for f in lambda_client.list_functions(MaxItems=10000)["Functions"]]
    assert "t-durable" not in names
