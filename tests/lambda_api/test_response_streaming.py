"""Node.js handlers written for response streaming (``awslambda.streamifyResponse``) run as
on Lambda: the runtime's ``awslambda`` global wraps them, and a plain Invoke answers what the
handler wrote to its response stream, buffered (``HttpResponseStream.from``'s metadata
prelude and its eight NUL bytes first, as Lambda sends them)."""

from __future__ import annotations

import base64
import json
import shutil
import time
from typing import Any

import pytest

from tests.lambda_api.helpers import create

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on the host")


def _node(client: Any, name: str, files: dict[str, str]) -> None:
    create(client, name, files, Runtime="nodejs20.x")


def test_streamified_handler_answers_what_it_wrote(lambda_client: Any) -> None:
    _node(
        lambda_client,
        "stream-plain",
        {
            "index.mjs": """
            export const handler = awslambda.streamifyResponse(async (event, stream, context) => {
              stream.setContentType('text/plain');
              for (const part of ['one ', 'two ', event.last]) {
                stream.write(part);
                await new Promise((resolve) => setTimeout(resolve, 10));
              }
              stream.end();
            });
            """
        },
    )
    response = lambda_client.invoke(FunctionName="stream-plain", Payload=b'{"last": "three"}')
    assert "FunctionError" not in response
    assert response["Payload"].read() == b"one two three"


def test_http_response_stream_writes_its_prelude_first(lambda_client: Any) -> None:
    _node(
        lambda_client,
        "stream-http",
        {
            "index.js": """
            const { pipeline } = require('node:stream/promises');
            const { Readable } = require('node:stream');
            exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
              const metadata = { statusCode: 201, headers: { 'Content-Type': 'text/html' } };
              responseStream = awslambda.HttpResponseStream.from(responseStream, metadata);
              await pipeline(Readable.from(['<p>', 'hi', '</p>']), responseStream);
            });
            """
        },
    )
    body = lambda_client.invoke(FunctionName="stream-http")["Payload"].read()
    prelude, _, rest = body.partition(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"Content-Type": "text/html"}}
    assert rest == b"<p>hi</p>"


def test_stream_left_open_ends_once_nothing_is_pending_and_errors_are_lambdas(
    lambda_client: Any,
) -> None:
    _node(
        lambda_client,
        "stream-open",
        {
            "index.mjs": """
            import { pipeline } from 'node:stream';
            import { setTimeout as sleep } from 'node:timers/promises';
            async function* slowly() { for (const part of ['late ', 'parts']) { await sleep(50); yield part; } }
            export const handler = awslambda.streamifyResponse(async (event, stream) => {
              if (event.piped) { pipeline(slowly(), stream, () => {}); return; }  // not awaited
              stream.write(Buffer.from([0xff, 0x00, 0x41]));
              if (event.fail) throw new RangeError('stream broke');
            });
            """
        },
    )
    started = time.monotonic()
    response = lambda_client.invoke(FunctionName="stream-open")
    assert response["Payload"].read() == b"\xff\x00A"
    piped = lambda_client.invoke(FunctionName="stream-open", Payload=b'{"piped": true}')
    assert piped["Payload"].read() == b"late parts"
    assert time.monotonic() - started < 2.5  # not held until the function's timeout
    failed = lambda_client.invoke(FunctionName="stream-open", Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    document = json.loads(failed["Payload"].read())
    assert (document["errorType"], document["errorMessage"]) == ("RangeError", "stream broke")


def test_streamified_handler_in_a_state_machine(lambda_server: Any, lambda_client: Any) -> None:
    """Step Functions gets the stream's text as the task's ``Payload`` (JSON text parsed)."""
    _node(
        lambda_client,
        "stream-states",
        {
            "index.mjs": """
            export const handler = awslambda.streamifyResponse(async (event, stream) => {
              stream.write(event.json ? JSON.stringify({ streamed: true }) : 'not json');
              stream.end();
            });
            """
        },
    )
    sfn = lambda_server.client("stepfunctions")
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "stream-states", "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="stream-states",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    outputs = []
    for event in ({"json": True}, {"json": False}):
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(event))
        deadline = time.monotonic() + 30
        while (done := sfn.describe_execution(executionArn=execution["executionArn"]))[
            "status"
        ] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done["status"] == "SUCCEEDED", done
        outputs.append(json.loads(done["output"]))
    assert outputs == [{"streamed": True}, "not json"]


def _events(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(response["EventStream"])


def test_invoke_with_response_stream_sends_chunks_then_invoke_complete(
    lambda_client: Any,
) -> None:
    _node(
        lambda_client,
        "stream-api",
        {
            "index.mjs": """
            export const handler = awslambda.streamifyResponse(async (event, stream) => {
              stream.setContentType('text/csv');
              if (event.fail) throw new Error('no rows');
              stream.write('a,b\\n');
              stream.end('1,2\\n');
            });
            """
        },
    )
    response = lambda_client.invoke_with_response_stream(FunctionName="stream-api", LogType="Tail")
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseStreamContentType"] == "text/csv"
    events = _events(response)
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    assert chunks == b"a,b\n1,2\n"
    complete = events[-1]["InvokeComplete"]
    assert "ErrorCode" not in complete
    assert "START RequestId" in base64.b64decode(complete["LogResult"]).decode()
    failed = lambda_client.invoke_with_response_stream(
        FunctionName="stream-api", Payload=b'{"fail": true}'
    )
    assert _events(failed) == [
        {"InvokeComplete": {"ErrorCode": "Error", "ErrorDetails": "no rows"}}
    ]


def test_invoke_with_response_stream_of_a_buffered_function(lambda_client: Any) -> None:
    """A function that returns its result (Python here) streams it as one chunk."""
    create(lambda_client, "stream-python", {"index.py": "def handler(e, c):\n    return e\n"})
    response = lambda_client.invoke_with_response_stream(
        FunctionName="stream-python", Payload=b'{"k": 1}'
    )
    events = _events(response)
    assert events[0] == {"PayloadChunk": {"Payload": b'{"k": 1}'}}
    assert events[1:] == [{"InvokeComplete": {}}]
