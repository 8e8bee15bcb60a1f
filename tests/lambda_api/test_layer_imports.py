"""A function whose code imports what one of its layers would provide, on a server whose
mapping file names no packages for that layer, fails with Lambda's import error and a line
naming the layers that are not fetched here and where to map them."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.lambda_api.helpers import create

LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
PYTHON = "from aws_lambda_powertools import Logger\n\ndef handler(event, context):\n    return 1\n"
NODE = "import { Logger } from '@aws-lambda-powertools/logger';\nexport const handler = async () => 1;\n"


def _error(client: Any, name: str) -> dict[str, Any]:
    response = client.invoke(FunctionName=name, Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    document: dict[str, Any] = json.loads(response["Payload"].read())
    return document


def test_an_import_error_names_the_layers_not_fetched(lambda_client: Any) -> None:
    create(lambda_client, "layer-import-py", {"index.py": PYTHON}, Layers=[LAYER])
    error = _error(lambda_client, "layer-import-py")
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"].startswith(
        "Unable to import module 'index': No module named 'aws_lambda_powertools'"
    )
    assert LAYER in error["errorMessage"] and "mapping file" in error["errorMessage"]
    create(lambda_client, "layer-import-none", {"index.py": PYTHON})
    plain = _error(lambda_client, "layer-import-none")["errorMessage"]
    assert plain == "Unable to import module 'index': No module named 'aws_lambda_powertools'"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node on the host")
def test_a_node_import_error_names_them_too(lambda_client: Any) -> None:
    layer = LAYER.replace("PythonV3-python312-x86_64", "TypeScriptV2")
    create(
        lambda_client,
        "layer-import-node",
        {"index.mjs": NODE},
        Runtime="nodejs22.x",
        Layers=[layer],
    )
    error = _error(lambda_client, "layer-import-node")
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "@aws-lambda-powertools/logger" in error["errorMessage"]
    assert layer in error["errorMessage"]
