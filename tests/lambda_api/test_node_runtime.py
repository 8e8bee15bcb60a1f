"""Node.js functions log and end as Lambda's Node.js runtime makes them: console lines carry
the time, request id and level; a callback's result waits for the event loop to empty
unless ``context.callbackWaitsForEmptyEventLoop`` is false; failures are logged as
``Invoke Error`` / ``Uncaught Exception`` lines with the error as JSON."""

from __future__ import annotations

import base64
import json
import re
import shutil
from typing import Any

import pytest

from tests.lambda_api.helpers import create

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on the host")

_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _invoke(client: Any, name: str, event: Any = None) -> tuple[Any, dict[str, Any], list[str]]:
    response = client.invoke(
        FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail"
    )
    payload = json.loads(response["Payload"].read())
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    return payload, response, lines


def _node(client: Any, name: str, source: str, **kwargs: Any) -> None:
    create(client, name, {"index.js": source}, Runtime="nodejs20.x", **kwargs)


def test_node_console_lines_carry_time_request_id_and_level(lambda_client: Any) -> None:
    _node(
        lambda_client,
        "node-console-levels",
        """
        exports.handler = async (event, context) => {
          console.log('log %s', 'formatted', {a: 1});
          console.info('info');
          console.warn('warn');
          console.error('error');
          console.debug('debug');
          return context.awsRequestId;
        };
        """,
    )
    request_id, _, lines = _invoke(lambda_client, "node-console-levels")
    printed = [line.split("\t") for line in lines if re.match(_STAMP, line)]
    assert [(p[1], p[2], p[3]) for p in printed] == [
        (request_id, "INFO", "log formatted { a: 1 }"),
        (request_id, "INFO", "info"),
        (request_id, "WARN", "warn"),
        (request_id, "ERROR", "error"),
        (request_id, "DEBUG", "debug"),
    ]
    assert all(re.fullmatch(_STAMP, p[0]) for p in printed)


def test_node_callback_waits_for_the_event_loop_to_empty(lambda_client: Any) -> None:
    """Work the handler left running after its callback finishes before the call ends."""
    _node(
        lambda_client,
        "node-callback-waits",
        """
        exports.handler = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = event.wait;
          setTimeout(() => console.log('late work done'), 300);
          callback(null, {answered: true});
        };
        """,
    )
    payload, response, lines = _invoke(lambda_client, "node-callback-waits", {"wait": True})
    assert "FunctionError" not in response
    assert payload == {"answered": True}
    assert any(line.endswith("\tINFO\tlate work done") for line in lines)
    payload, _, lines = _invoke(lambda_client, "node-callback-waits", {"wait": False})
    assert payload == {"answered": True}
    assert not any("late work done" in line for line in lines)


def test_node_callback_that_leaves_a_timer_running_times_out(lambda_client: Any) -> None:
    """As on Lambda: a callback-style handler whose event loop never empties times out."""
    _node(
        lambda_client,
        "node-callback-timer",
        """
        exports.handler = (event, context, callback) => {
          setInterval(() => {}, 1000);
          callback(null, 'never sent');
        };
        """,
        Timeout=1,
    )
    payload, response, _ = _invoke(lambda_client, "node-callback-timer")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"


def test_node_failures_are_logged_as_lambdas_runtime_logs_them(lambda_client: Any) -> None:
    _node(
        lambda_client,
        "node-invoke-error",
        "exports.handler = async () => { throw new TypeError('bad input'); };\n",
    )
    payload, _, lines = _invoke(lambda_client, "node-invoke-error")
    logged = [line.split("\t") for line in lines if "\tERROR\t" in line]
    assert len(logged) == 1
    assert logged[0][3] == "Invoke Error "
    assert json.loads(logged[0][4]) == {
        "errorType": "TypeError",
        "errorMessage": "bad input",
        "stack": payload["trace"],
    }
    _node(lambda_client, "node-init-error", "throw new Error('no config');\n")
    payload, _, lines = _invoke(lambda_client, "node-init-error")
    assert (payload["errorType"], payload["errorMessage"]) == ("Error", "no config")
    logged = [line.split("\t") for line in lines if "\tERROR\t" in line]
    assert [(entry[1], entry[3]) for entry in logged] == [("undefined", "Uncaught Exception ")]


def test_node_handler_may_name_a_nested_export(lambda_client: Any) -> None:
    """The module is the file name up to the first dot; the rest is the export's path."""
    create(
        lambda_client,
        "node-nested-export",
        {"lib/app.js": "exports.handlers = {main: async (event) => ({nested: event.n})};\n"},
        Runtime="nodejs20.x",
        Handler="lib/app.handlers.main",
    )
    payload, response, _ = _invoke(lambda_client, "node-nested-export", {"n": 7})
    assert "FunctionError" not in response
    assert payload == {"nested": 7}
    create(
        lambda_client,
        "node-nested-missing",
        {"index.js": "exports.handlers = {};\n"},
        Runtime="nodejs20.x",
        Handler="index.handlers.main",
    )
    payload, _, _ = _invoke(lambda_client, "node-nested-missing")
    assert payload["errorType"] == "Runtime.HandlerNotFound"
    assert payload["errorMessage"] == "index.handlers.main is undefined or not exported"


_CALLBACK_STYLE = """
exports.handler = (event, context, callback) => { callback(null, 'called back'); };
"""


def test_nodejs24_refuses_callback_style_handlers(lambda_client: Any) -> None:
    """Lambda's nodejs24.x runtime removed callback-based handlers: one that declares a third
    parameter fails to start (``Init Error``); async and response-streaming handlers run, and
    nodejs22.x still calls back."""
    for runtime in ("nodejs24.x", "nodejs22.x"):
        name = f"node-callback-{runtime.replace('.', '-')}"
        create(lambda_client, name, {"index.js": _CALLBACK_STYLE}, Runtime=runtime)
        payload, response, lines = _invoke(lambda_client, name)
        if runtime == "nodejs22.x":
            assert payload == "called back"
            continue
        assert response["FunctionError"] == "Unhandled"
        assert payload["errorType"] == "Runtime.CallbackHandlerDeprecated"
        assert payload["errorMessage"].startswith(
            "ERROR: AWS Lambda has removed support for callback-based function handlers "
            "starting with Node.js 24."
        )
        assert any("\tERROR\tInit Error \t" in line for line in lines)
    create(
        lambda_client,
        "node24-async",
        {
            "index.mjs": """
            export const handler = async (event, context) => ({ ok: context.functionName });
            export const streamed = awslambda.streamifyResponse(async (event, stream, context) => {
              stream.end('streamed');
            });
            """
        },
        Runtime="nodejs24.x",
    )
    assert _invoke(lambda_client, "node24-async")[0] == {"ok": "node24-async"}
    lambda_client.update_function_configuration(
        FunctionName="node24-async", Handler="index.streamed"
    )
    response = lambda_client.invoke(FunctionName="node24-async")
    assert response["Payload"].read() == b"streamed"
