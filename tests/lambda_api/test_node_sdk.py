"""Node.js functions use the AWS SDK for JavaScript v3 clients, as on Lambda's managed runtime.

``scripts/setup`` installs the clients (``runtime/nodejs``); handlers ``require``
or ``import`` them without bundling them, and with nothing but the environment
the server gives (``AWS_ENDPOINT_URL``, region, credentials) they reach
montemap's S3 and Step Functions. A function's own ``node_modules`` wins.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from montemap.lambda_api import bootstrap_node
from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import events, finished, outputs
from tests.lambda_api.helpers import create

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on the host")

#: The SDK calls every handler below makes: PutObject, GetObject, StartExecution.
_CALLS = """
  const s3 = new S3Client({});
  await s3.send(new PutObjectCommand({Bucket: bucket, Key: key, Body: text}));
  const got = await s3.send(new GetObjectCommand({Bucket: bucket, Key: key}));
  const read = await got.Body.transformToString();
  const sfn = new SFNClient({});
  const started = await sfn.send(new StartExecutionCommand({
    stateMachineArn: machine, input: JSON.stringify({read}),
  }));
"""

COMMONJS = (
    """
const {S3Client, PutObjectCommand, GetObjectCommand} = require("@aws-sdk/client-s3");
const {SFNClient, StartExecutionCommand} = require("@aws-sdk/client-sfn");
exports.handler = async ({bucket, key, text, machine}) => {"""
    + _CALLS
    + """  return {read, executionArn: started.executionArn,
          sdk: require("@aws-sdk/client-s3/package.json").version};
};
"""
)

ESM = (
    """
import {S3Client, PutObjectCommand, GetObjectCommand} from "@aws-sdk/client-s3";
import {SFNClient, StartExecutionCommand} from "@aws-sdk/client-sfn";
export const handler = async ({bucket, key, text, machine}) => {"""
    + _CALLS
    + """  return {read, executionArn: started.executionArn};
};
"""
)

#: The clients' versions scripts/setup installs.
PINNED: dict[str, str] = json.loads(
    (Path(__file__).parents[2] / "runtime" / "nodejs" / "package.json").read_text()
)["dependencies"]
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture(scope="module")
def sdk_installed() -> None:
    if bootstrap_node.sdk_modules() is None:
        pytest.fail("the AWS SDK for JavaScript is not installed: run scripts/setup (it needs npm)")


@pytest.fixture(scope="module")
def targets(lambda_server: MontemapServer, sdk_installed: None) -> dict[str, str]:
    """A bucket and a state machine for the functions to use."""
    bucket = f"node-sdk-{uuid.uuid4().hex[:8]}"
    lambda_server.client("s3").create_bucket(Bucket=bucket)
    machine = lambda_server.client("stepfunctions").create_state_machine(
        name=f"node-sdk-{uuid.uuid4().hex[:8]}",
        definition=PASS_MACHINE,
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    return {"bucket": bucket, "machine": machine}


def _invoke(client: Any, name: str, payload: dict[str, Any]) -> Any:
    response = client.invoke(
        FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail"
    )
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Warning" not in log, log  # nothing about the host's node version
    return result


def _execution_output(server: MontemapServer, arn: str) -> Any:
    sfn = server.client("stepfunctions")

    def done() -> dict[str, Any] | None:
        found: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return None if found["status"] == "RUNNING" else found

    execution = eventually(done, timeout=30)
    assert execution["status"] == "SUCCEEDED", execution
    return json.loads(execution["output"])


@pytest.mark.parametrize(("runtime", "file", "source"), [
    ("nodejs20.x", "index.js", COMMONJS),
    ("nodejs22.x", "index.mjs", ESM),
])  # fmt: skip
def test_handler_uses_the_runtime_sdk_against_montemap(
    lambda_server: MontemapServer,
    lambda_client: Any,
    targets: dict[str, str],
    runtime: str,
    file: str,
    source: str,
) -> None:
    name = f"node-sdk-{file.replace('.', '-')}"
    create(lambda_client, name, {file: source}, Runtime=runtime, Timeout=30)
    key, text = f"from/{name}.txt", f"written by {name} with the SDK"
    result = _invoke(lambda_client, name, {**targets, "key": key, "text": text})
    assert result["read"] == text
    stored = lambda_server.client("s3").get_object(Bucket=targets["bucket"], Key=key)
    assert stored["Body"].read().decode() == text
    assert result["executionArn"].startswith(
        targets["machine"].replace(":stateMachine:", ":execution:")
    )
    assert _execution_output(lambda_server, result["executionArn"]) == {"read": text}
    if file == "index.js":  # the version runtime/nodejs/package.json pins
        assert result["sdk"] == PINNED["@aws-sdk/client-s3"]


OWN_COPY = {
    # An ES module package ("type": "module": its .js files are imported).
    "package.json": '{"type": "module"}',
    "index.js": """
    import {who} from "@aws-sdk/client-s3";
    import {createRequire} from "node:module";
    const require = createRequire(import.meta.url);
    export const handler = async () => ({
      imported: who,
      required: require("@aws-sdk/client-s3").who,
      runtimeSfn: typeof (await import("@aws-sdk/client-sfn")).SFNClient,
      missing: await import("not-a-package-anywhere").then(() => "found", (e) => e.code),
    });
    """,
    "node_modules/@aws-sdk/client-s3/package.json": '{"name": "@aws-sdk/client-s3", "main": "main.js"}',
    "node_modules/@aws-sdk/client-s3/main.js": 'exports.who = "the function\'s own copy";',
}


def test_the_functions_own_node_modules_come_first(lambda_client: Any, sdk_installed: None) -> None:
    create(lambda_client, "node-sdk-own-copy", OWN_COPY, Runtime="nodejs20.x", Timeout=30)
    assert _invoke(lambda_client, "node-sdk-own-copy", {}) == {
        "imported": "the function's own copy",
        "required": "the function's own copy",
        "runtimeSfn": "function",
        "missing": "ERR_MODULE_NOT_FOUND",
    }


#: A client montemap does not install (DynamoDB is not a service it answers).
NOT_INSTALLED = {
    "index.js": """
    const {DynamoDBClient} = require("@aws-sdk/client-dynamodb");
    exports.handler = async () => typeof DynamoDBClient;
    """,
    "index.mjs": """
    import {DynamoDBClient} from "@aws-sdk/client-dynamodb";
    export const handler = async () => typeof DynamoDBClient;
    """,
}


@pytest.mark.parametrize("file", sorted(NOT_INSTALLED))
def test_a_client_not_installed_is_an_import_error(
    lambda_client: Any, sdk_installed: None, file: str
) -> None:
    name = f"node-sdk-missing-{file.replace('.', '-')}"
    create(lambda_client, name, {file: NOT_INSTALLED[file]}, Runtime="nodejs20.x", Timeout=30)
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "'@aws-sdk/client-dynamodb'" in error["errorMessage"]


@pytest.mark.parametrize(("runtime", "file", "source"), [
    ("nodejs16.x", "index.js", "const AWS = require('aws-sdk');\nexports.handler = async () => 1;\n"),
    ("nodejs20.x", "index.mjs", "import AWS from 'aws-sdk';\nexport const handler = async () => 1;\n"),
], ids=["require", "import"])  # fmt: skip
def test_the_v2_sdk_missing_is_named(
    lambda_client: Any, sdk_installed: None, runtime: str, file: str, source: str
) -> None:
    """Code written for Lambda's older runtimes, which bundled the v2 SDK (``aws-sdk``), gets
    Lambda's import error and a line saying what to do here."""
    name = f"node-sdk-v2-{runtime.replace('.', '-')}"
    create(lambda_client, name, {file: source}, Runtime=runtime, Timeout=30)
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "'aws-sdk'" in error["errorMessage"]
    assert "AWS SDK for JavaScript v2" in error["errorMessage"]
    assert "@aws-sdk/client-" in error["errorMessage"]


STACK = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/test
      DefinitionString: '{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}'
  Writer:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/test
      Timeout: 30
      Environment:
        Variables: {BUCKET: !Ref Bucket, MACHINE: !Ref Machine}
      Code:
        ZipFile: |
          const response = require("cfn-response");
          const {S3Client, PutObjectCommand, GetObjectCommand} = require("@aws-sdk/client-s3");
          const {SFNClient, StartExecutionCommand} = require("@aws-sdk/client-sfn");
          async function work(text) {
            const bucket = process.env.BUCKET, key = "stack/seed.txt", machine = process.env.MACHINE;
            SDK_CALLS
            return {Read: read, ExecutionArn: started.executionArn};
          }
          exports.handler = function (event, context) {
            if (event.RequestType === "Delete") {
              return response.send(event, context, response.SUCCESS, {});
            }
            work(event.ResourceProperties.Text).then(
              (data) => response.send(event, context, response.SUCCESS, data, "seed"),
              (err) => response.send(event, context, response.FAILED, {}, String(err)));
          };
  Seed:
    Type: Custom::Seed
    Properties:
      ServiceToken: !GetAtt Writer.Arn
      Text: seeded by a stack
Outputs:
  Bucket: {Value: !Ref Bucket}
  Read: {Value: !GetAtt Seed.Read}
  ExecutionArn: {Value: !GetAtt Seed.ExecutionArn}
"""


def test_inline_stack_function_uses_the_sdk(
    lambda_server: MontemapServer, sdk_installed: None
) -> None:
    calls = _CALLS.strip().replace("\n", "\n" + " " * 12)
    template = STACK.replace("SDK_CALLS", calls)
    cfn = lambda_server.client("cloudformation")
    cfn.create_stack(StackName="node-sdk-stack", TemplateBody=template)
    stack = finished(cfn, "node-sdk-stack")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "node-sdk-stack")
    found = outputs(stack)
    assert found["Read"] == "seeded by a stack"
    stored = lambda_server.client("s3").get_object(Bucket=found["Bucket"], Key="stack/seed.txt")
    assert stored["Body"].read().decode() == "seeded by a stack"
    assert _execution_output(lambda_server, found["ExecutionArn"]) == {"read": "seeded by a stack"}
    lambda_server.client("s3").delete_object(Bucket=found["Bucket"], Key="stack/seed.txt")
    cfn.delete_stack(StackName="node-sdk-stack")
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_the_server_may_name_another_sdk_directory(tmp_path: Path) -> None:
    """``MONTEMAP_NODE_MODULES`` (a server installed without the checkout)."""
    modules = tmp_path / "elsewhere" / "node_modules"
    package = modules / "@aws-sdk" / "client-sfn"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@aws-sdk/client-sfn", "main": "main.js"}')
    (package / "main.js").write_text('exports.where = "elsewhere";')
    server = MontemapServer(tmp_path / "data", env={bootstrap_node.SDK_VARIABLE: str(modules)})
    server.start()
    try:
        client = server.client("lambda")
        files = {
            "index.mjs": """
            import {where} from "@aws-sdk/client-sfn";
            export const handler = async () => ({where, path: process.env.NODE_PATH});
            """
        }
        create(client, "node-sdk-elsewhere", files, Runtime="nodejs20.x", Timeout=30)
        assert _invoke(client, "node-sdk-elsewhere", {}) == {
            "where": "elsewhere",
            "path": str(modules),
        }
    finally:
        server.close()
