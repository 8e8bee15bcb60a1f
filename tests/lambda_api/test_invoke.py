"""Invoke: payloads, errors, Event and DryRun, timeouts, isolation, logs, boto3 inside, Node.js."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MontemapServer
from tests.lambda_api.helpers import create, eventually

ENV_REPORT = {
    "index.py": """
    import os
    import helper
    def handler(event, context):
        names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
                 "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_ENDPOINT_URL",
                 "AWS_ACCESS_KEY_ID", "MINE", "OTHER", "MONTEMAP_LEAK_CANARY"]
        return {
            "env": {n: os.environ.get(n) for n in names},
            "helper": helper.WHO,
            "context": {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
            },
        }
    """,
}


def _invoke(
    client: Any, name: str, payload: Any = None, **kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    body = json.dumps(payload if payload is not None else {}).encode()
    response = client.invoke(FunctionName=name, Payload=body, **kwargs)
    return json.loads(response["Payload"].read()), response


def test_environment_and_context_are_lambdas_and_isolated(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    for who, variables in (("iso-a", {"MINE": "a"}), ("iso-b", {"OTHER": "b"})):
        files = {**ENV_REPORT, "helper.py": f"WHO = {who!r}\n"}
        create(lambda_client, who, files, MemorySize=512, Environment={"Variables": variables})
    a, response = _invoke(lambda_client, "iso-a")
    b, _ = _invoke(lambda_client, "iso-b")
    assert (a["helper"], b["helper"]) == ("iso-a", "iso-b")  # each its own helper module
    assert a["env"]["MINE"] == "a" and a["env"]["OTHER"] is None
    assert b["env"]["OTHER"] == "b" and b["env"]["MINE"] is None
    assert a["env"]["MONTEMAP_LEAK_CANARY"] is None  # nothing of the server's environment
    assert a["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "iso-a"
    assert a["env"]["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert a["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert a["env"]["AWS_REGION"] == a["env"]["AWS_DEFAULT_REGION"] == "us-east-1"
    assert a["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert a["env"]["_HANDLER"] == "index.handler"
    assert a["env"]["AWS_ENDPOINT_URL"] == lambda_server.url
    assert (
        Path(a["env"]["LAMBDA_TASK_ROOT"])
        == lambda_server.data_dir / "lambda" / "iso-a" / "$LATEST"
    )
    context = a["context"]
    assert context["function_name"] == "iso-a"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:iso-a"
    assert context["memory_limit_in_mb"] == "512"
    assert context["log_group_name"] == "/aws/lambda/iso-a"
    assert 0 < context["remaining"] <= 3000
    assert context["log_stream_name"].endswith(context["aws_request_id"].replace("-", ""))
    assert response["ExecutedVersion"] == "$LATEST"


def test_handler_error_is_reported_as_lambda_does(lambda_client: Any) -> None:
    create(
        lambda_client,
        "inv-raises",
        {
            "index.py": "class Refused(Exception):\n    pass\n\ndef handler(e, c):\n    raise Refused(f\"no {e['n']}\")\n"
        },
    )
    payload, response = _invoke(lambda_client, "inv-raises", {"n": 7}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorMessage"] == "no 7"
    assert payload["errorType"] == "Refused"
    assert isinstance(payload["stackTrace"], list) and payload["stackTrace"]
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Refused: no 7" in log and log.startswith("START RequestId:")


def test_missing_handler_and_bad_payload(lambda_client: Any) -> None:
    create(lambda_client, "inv-nohandler", {"index.py": "x = 1\n"})
    payload, response = _invoke(lambda_client, "inv-nohandler")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.HandlerNotFound"
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException):
        lambda_client.invoke(FunctionName="inv-nohandler", Payload=b"{not json")


def test_timeout_kills_the_handler(lambda_client: Any, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    create(
        lambda_client,
        "inv-slow",
        {
            "index.py": "import os, time\ndef handler(e, c):\n    open(e['pid'], 'w').write(str(os.getpid()))\n    time.sleep(600)\n"
        },
        Timeout=1,
    )
    payload, response = _invoke(lambda_client, "inv-slow", {"pid": str(pid_file)})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    pid = int(pid_file.read_text())

    def gone() -> bool | None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return None

    eventually(gone, timeout=30)


def test_event_and_dry_run_invocations(lambda_client: Any, tmp_path: Path) -> None:
    create(
        lambda_client,
        "inv-event",
        {
            "index.py": "import json\ndef handler(e, c):\n    open(e['out'], 'w').write(json.dumps(e))\n"
        },
    )
    out = tmp_path / "event.json"
    response = lambda_client.invoke(
        FunctionName="inv-event", InvocationType="Event", Payload=json.dumps({"out": str(out)})
    )
    assert response["StatusCode"] == 202
    written = eventually(lambda: out.read_text() if out.exists() else None)
    assert json.loads(written) == {"out": str(out)}
    dry = lambda_client.invoke(FunctionName="inv-event", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="inv-absent", InvocationType="Event")


def test_boto3_in_a_handler_reaches_the_server(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    sfn = lambda_server.client()
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    arn = sfn.create_state_machine(
        name="sm-seen-from-lambda",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    create(
        lambda_client,
        "inv-boto3",
        {
            "index.py": """
            import boto3
            def handler(event, context):
                sfn = boto3.client("stepfunctions")
                run = sfn.start_execution(stateMachineArn=event["arn"], input='{"from": "lambda"}')
                names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
                return {"names": names, "execution": run["executionArn"]}
            """
        },
        Timeout=60,
    )
    payload, response = _invoke(lambda_client, "inv-boto3", {"arn": arn})
    assert "FunctionError" not in response, payload
    assert "sm-seen-from-lambda" in payload["names"]
    described = sfn.describe_execution(executionArn=payload["execution"])
    assert json.loads(described["input"]) == {"from": "lambda"}


def test_unsupported_runtime_is_named(lambda_client: Any) -> None:
    create(lambda_client, "inv-java", {"A.java": "class A {}"}, Runtime="java21", Handler="A::h")
    with pytest.raises(lambda_client.exceptions.InvalidRuntimeException) as refused:
        lambda_client.invoke(FunctionName="inv-java")
    assert "java21" in str(refused.value)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this host")
def test_nodejs_handlers(lambda_client: Any) -> None:
    create(
        lambda_client,
        "inv-node-async",
        {
            "index.js": """
            exports.handler = async (event, context) => ({
              doubled: event.n * 2,
              name: context.functionName,
              region: process.env.AWS_REGION,
              mine: process.env.MINE,
              left: context.getRemainingTimeInMillis() > 0,
            });
            """
        },
        Runtime="nodejs20.x",
        Environment={"Variables": {"MINE": "node"}},
    )
    payload, _ = _invoke(lambda_client, "inv-node-async", {"n": 21})
    assert payload == {
        "doubled": 42,
        "name": "inv-node-async",
        "region": "us-east-1",
        "mine": "node",
        "left": True,
    }
    create(
        lambda_client,
        "inv-node-callback",
        {
            "app.js": """
            exports.run = (event, context, callback) => {
              if (event.fail) { callback(new TypeError('bad ' + event.fail)); return; }
              setTimeout(() => callback(null, {ok: true}), 10);
            };
            """
        },
        Runtime="nodejs18.x",
        Handler="app.run",
    )
    assert _invoke(lambda_client, "inv-node-callback")[0] == {"ok": True}
    payload, response = _invoke(lambda_client, "inv-node-callback", {"fail": "input"})
    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("TypeError", "bad input")


def test_error_documents_carry_only_the_functions_frames(lambda_client: Any) -> None:
    """As Lambda's Python runtime: the stack trace is the function's own frames, import
    failures have none, a syntax error is Runtime.UserCodeSyntaxError."""
    create(
        lambda_client,
        "inv-frames",
        {
            "index.py": "import helper\ndef handler(e, c):\n    return helper.fail(e)\n",
            "helper.py": "def fail(e):\n    raise KeyError('missing')\n",
        },
    )
    payload, _ = _invoke(lambda_client, "inv-frames")
    assert payload["errorType"] == "KeyError"
    trace = payload["stackTrace"]
    assert len(trace) == 2, trace
    assert 'index.py", line 3, in handler' in trace[0]
    assert 'helper.py", line 2, in fail' in trace[1]
    assert "bootstrap" not in "".join(trace)

    create(lambda_client, "inv-noimport", {"index.py": "import not_installed_anywhere\n"})
    payload, response = _invoke(lambda_client, "inv-noimport")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == (
        "Unable to import module 'index': No module named 'not_installed_anywhere'"
    )
    assert payload["stackTrace"] == []

    create(lambda_client, "inv-syntax", {"index.py": "def handler(e, c)\n    return 1\n"})
    payload, _ = _invoke(lambda_client, "inv-syntax")
    assert payload["errorType"] == "Runtime.UserCodeSyntaxError"
    assert payload["errorMessage"].startswith("Syntax error in module 'index': ")
    assert len(payload["stackTrace"]) == 1 and "Line 1" in payload["stackTrace"][0]


def test_payloads_over_the_quota_are_refused_as_lambda_does(lambda_client: Any) -> None:
    """The code Lambda answers is RequestEntityTooLargeException (413), with its messages."""
    create(lambda_client, "inv-quota", {"index.py": "def handler(e, c):\n    return 1\n"})
    big = json.dumps({"x": "y" * (6 * 1024 * 1024)}).encode()
    with pytest.raises(lambda_client.exceptions.ClientError) as refused:
        lambda_client.invoke(FunctionName="inv-quota", Payload=big)
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Code"] == "RequestEntityTooLargeException"
    assert error["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    event = json.dumps({"x": "y" * (1024 * 1024)}).encode()
    with pytest.raises(lambda_client.exceptions.ClientError) as refused:
        lambda_client.invoke(FunctionName="inv-quota", Payload=event, InvocationType="Event")
    error = refused.value.response["Error"]
    assert error["Code"] == "RequestEntityTooLargeException"
    assert error["Message"] == (
        f"{len(event)} byte payload is too large for the Event invocation type "
        "(limit 1048576 bytes)"
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this host")
def test_nodejs_error_documents_are_lambdas(lambda_client: Any) -> None:
    """As Lambda's Node.js runtime: `trace` is the stack's lines ("Type: message", then the
    indented frames), a thrown non-Error is typed by typeof, a syntax error is
    Runtime.UserCodeSyntaxError, a missing handler file an ImportModuleError."""
    files = {
        "index.js": "exports.handler = async (e) => {\n"
        "  if (e.text) { throw 'plain text'; }\n"
        "  throw new RangeError('out of range');\n};\n",
        "broken.js": "exports.handler = async () => { return 1\n",
    }
    for name, handler in (
        ("node-errors", "index.handler"),
        ("node-syntax", "broken.handler"),
        ("node-nofile", "absent.handler"),
    ):
        create(lambda_client, name, files, Runtime="nodejs20.x", Handler=handler)
    payload, response = _invoke(lambda_client, "node-errors")
    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("RangeError", "out of range")
    assert payload["trace"][0] == "RangeError: out of range"
    assert payload["trace"][1].startswith("    at ") and "index.js:3" in payload["trace"][1]
    payload, _ = _invoke(lambda_client, "node-errors", {"text": True})
    assert payload == {"errorType": "string", "errorMessage": "plain text", "trace": []}
    payload, _ = _invoke(lambda_client, "node-syntax")
    assert payload["errorType"] == "Runtime.UserCodeSyntaxError"
    assert payload["errorMessage"].startswith("SyntaxError: ")
    payload, _ = _invoke(lambda_client, "node-nofile")
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"].startswith("Error: Cannot find module 'absent'\nRequire stack:")
