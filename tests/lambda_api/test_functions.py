"""CreateFunction (zip bytes and S3), Get/List/Update/Delete, refusals, persistence."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.storage import LocalObjectStore
from tests.conftest import MontemapServer
from tests.lambda_api.helpers import create, package

ECHO = {
    "index.py": """
    def handler(event, context):
        return {"got": event, "version": context.function_version}
    """
}


def _code(client: Any, name: str, **kwargs: Any) -> Any:
    return json.loads(client.invoke(FunctionName=name, **kwargs)["Payload"].read())


def _error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_get_list_and_invoke(lambda_client: Any) -> None:
    created = create(lambda_client, "fn-basic", ECHO, Timeout=7, MemorySize=256)
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn-basic"
    assert (created["Timeout"], created["MemorySize"], created["Version"]) == (7, 256, "$LATEST")
    assert created["CodeSize"] == len(package(ECHO))
    got = lambda_client.get_function(FunctionName="fn-basic")
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    assert got["Code"]["RepositoryType"] == "S3"
    # fields Lambda reports of every function
    assert got["Configuration"]["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": "/aws/lambda/fn-basic",
    }
    assert got["Configuration"]["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    names = [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]]
    assert "fn-basic" in names and "PartitionInventory" in names
    assert _code(lambda_client, "fn-basic", Payload=b'{"k": [1, 2]}') == {
        "got": {"k": [1, 2]},
        "version": "$LATEST",
    }


def test_list_functions_pages(lambda_client: Any) -> None:
    for i in range(3):
        create(lambda_client, f"fn-page-{i}", ECHO)
    seen: list[str] = []
    marker: dict[str, str] = {}
    while True:
        page = lambda_client.list_functions(MaxItems=2, **marker)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        if "NextMarker" not in page:
            break
        marker = {"Marker": page["NextMarker"]}
    assert [n for n in seen if n.startswith("fn-page-")] == ["fn-page-0", "fn-page-1", "fn-page-2"]
    assert len(seen) == len(set(seen))


def test_create_from_the_object_store(lambda_client: Any, lambda_server: MontemapServer) -> None:
    store = LocalObjectStore(lambda_server.data_dir / "buckets")
    store.create_bucket("code-bucket")
    store.put("code-bucket", "pkg/fn.zip", package(ECHO))
    lambda_client.create_function(
        FunctionName="fn-from-s3",
        Runtime="python3.12",
        Role="arn:aws:iam::123456789012:role/test",
        Handler="index.handler",
        Code={"S3Bucket": "code-bucket", "S3Key": "pkg/fn.zip"},
    )
    assert _code(lambda_client, "fn-from-s3", Payload=b"{}")["got"] == {}
    with pytest.raises(ClientError) as missing:
        lambda_client.create_function(
            FunctionName="fn-from-s3-missing",
            Runtime="python3.12",
            Role="arn:aws:iam::123456789012:role/test",
            Handler="index.handler",
            Code={"S3Bucket": "code-bucket", "S3Key": "nothing.zip"},
        )
    assert _error_code(missing) == "InvalidParameterValueException"
    assert "NoSuchKey" in str(missing.value)


def test_update_code_and_configuration(lambda_client: Any) -> None:
    create(lambda_client, "fn-update", ECHO, Environment={"Variables": {"AB": "1"}})
    source = {"index.py": "import os\ndef handler(e, c):\n    return os.environ.get('AB')\n"}
    updated = lambda_client.update_function_code(FunctionName="fn-update", ZipFile=package(source))
    assert _code(lambda_client, "fn-update") == "1"
    config = lambda_client.update_function_configuration(
        FunctionName="fn-update", Environment={"Variables": {"AB": "2"}}, Timeout=10
    )
    assert config["Timeout"] == 10 and config["RevisionId"] != updated["RevisionId"]
    assert _code(lambda_client, "fn-update") == "2"
    with pytest.raises(ClientError) as stale:
        lambda_client.update_function_configuration(
            FunctionName="fn-update", Timeout=5, RevisionId=updated["RevisionId"]
        )
    assert _error_code(stale) == "PreconditionFailedException"


def test_delete_function(lambda_client: Any) -> None:
    create(lambda_client, "fn-delete", ECHO)
    lambda_client.delete_function(FunctionName="fn-delete")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="fn-delete")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="fn-delete")
    create(lambda_client, "fn-delete", ECHO)  # the name is free again


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"FunctionName": "fn-basic-dup"}, "ResourceConflictException", "already exist"),
        ({"FunctionName": "PartitionInventory"}, "ResourceConflictException", "already exist"),
        (
            {"FunctionName": "bad name!"},
            "ValidationException",
            "1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?",
        ),
        (
            {"Timeout": 901},
            "ValidationException",
            "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
            "Member must have value less than or equal to 900",
        ),
        (
            {"Environment": {"Variables": {"1ST": "x"}}},
            "ValidationException",
            "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy "
            "constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
        ),
        ({"Environment": {"Variables": {"A": "x"}}}, "ValidationException", "Map keys"),
        (
            {"Environment": {"Variables": {"BIG": "x" * 4090}}},
            "InvalidParameterValueException",
            "the environment variables you have provided exceeded the 4KB limit. "
            'String measured: {"BIG":"xxx',
        ),
        (
            {"Environment": {"Variables": {"AWS_REGION": "x"}}},
            "InvalidParameterValueException",
            "Reserved keys used in this request: AWS_REGION",
        ),
        ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException", "not a valid zip"),
    ],
)
def test_create_refusals(
    lambda_client: Any, change: dict[str, Any], code: str, message: str
) -> None:
    if change.get("FunctionName") == "fn-basic-dup":
        create(lambda_client, "fn-basic-dup", ECHO)
    params: dict[str, Any] = {
        "FunctionName": f"fn-refused-{abs(hash(json.dumps(change, default=str))) % 10**8}",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/test",
        "Handler": "index.handler",
        "Code": {"ZipFile": package(ECHO)},
    }
    params.update(change)
    with pytest.raises(ClientError) as refused:
        lambda_client.create_function(**params)
    assert _error_code(refused) == code
    assert refused.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    assert message in refused.value.response["Error"]["Message"]


def _zip_with(add: Callable[[zipfile.ZipFile], None]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        add(archive)
    return buffer.getvalue()


def _symlink(archive: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("link.py")
    info.external_attr = 0o120777 << 16
    archive.writestr(info, "/etc/passwd")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda a: a.writestr("../escape.py", "x = 1"), "points outside"),
        (lambda a: a.writestr("/abs.py", "x = 1"), "points outside"),
        (_symlink, "symbolic link"),
    ],
)
def test_unsafe_packages_are_refused(
    lambda_client: Any,
    lambda_server: MontemapServer,
    build: Callable[[zipfile.ZipFile], None],
    message: str,
) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as refused:
        lambda_client.create_function(
            FunctionName="fn-unsafe",
            Runtime="python3.12",
            Role="arn:aws:iam::123456789012:role/test",
            Handler="index.handler",
            Code={"ZipFile": _zip_with(build)},
        )
    assert message in str(refused.value)
    assert not (lambda_server.data_dir / "lambda" / "fn-unsafe").exists()
    assert not (lambda_server.data_dir / "lambda" / "escape.py").exists()


def test_functions_survive_a_restart(server_factory: Callable[..., MontemapServer]) -> None:
    server = server_factory()
    client = server.client("lambda")
    create(client, "fn-durable", ECHO, Environment={"Variables": {"KEEP": "yes"}})
    client.publish_version(FunctionName="fn-durable")
    server.restart(crash=True)
    client = server.client("lambda")
    config = client.get_function_configuration(FunctionName="fn-durable", Qualifier="1")
    assert config["Environment"]["Variables"] == {"KEEP": "yes"}
    assert _code(client, "fn-durable:1", Payload=b'{"x": 1}') == {"got": {"x": 1}, "version": "1"}
    assert (server.data_dir / "lambda" / "fn-durable" / "1" / "index.py").is_file()


def test_get_function_code_location_downloads_the_zip(lambda_client: Any) -> None:
    import urllib.error
    import urllib.request

    files = {"index.py": "def handler(event, context):\n    return 'v1'\n"}
    create(lambda_client, "download-me", files, Publish=True)
    for qualifier in (None, "1"):
        answer = (
            lambda_client.get_function(FunctionName="download-me", Qualifier=qualifier)
            if qualifier
            else lambda_client.get_function(FunctionName="download-me")
        )
        location = answer["Code"]["Location"]
        assert location.startswith(lambda_client.meta.endpoint_url + "/")
        with urllib.request.urlopen(location, timeout=30) as response:  # no credentials
            downloaded = response.read()
        with zipfile.ZipFile(io.BytesIO(downloaded)) as archive:
            assert archive.read("index.py").decode() == files["index.py"]
    tampered = location.replace("X-Montemap-Signature=", "X-Montemap-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=30)
    assert refused.value.code == 403
    refused.value.close()
    unsigned = location.split("?", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as missing_signature:
        urllib.request.urlopen(unsigned, timeout=30)
    assert missing_signature.value.code == 403
    missing_signature.value.close()
