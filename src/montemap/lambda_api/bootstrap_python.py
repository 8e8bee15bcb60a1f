"""Runs one Python Lambda handler invocation; started by :mod:`montemap.lambda_api.runtime`.

A script of its own (it imports nothing from montemap): ``python bootstrap_python.py
EVENT_FILE RESULT_FILE REQUEST_ID DEADLINE_MS INVOKED_ARN [CLIENT_CONTEXT]``, in a fresh process
whose environment is the function's. The handler (``_HANDLER``: ``module.function``,
the module path dotted or slashed) is imported from the working directory (the
code ``LAMBDA_TASK_ROOT`` had when the invocation started). The
result file gets ``{"payload": <JSON text>}`` or ``{"error": <Lambda's error
document>}``; stdout and stderr are the function's log.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The context object Lambda's Python runtime passes to handlers."""

    def __init__(
        self, request_id: str, deadline_ms: int, invoked_arn: str, client_context: str = ""
    ) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invoked_arn
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        #: Cognito's fields, None unless a mobile SDK's caller sent an identity (none here).
        self.identity = _Fields(("cognito_identity_id", "cognito_identity_pool_id"), None)
        self.client_context = _client_context(client_context)
        #: The tenant of a function with tenant isolation (not served here): None.
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _Fields:
    """An object whose attributes are a JSON object's fields (None for those not given)."""

    client: _Fields | None = None

    def __init__(self, fields: tuple[str, ...], values: object) -> None:
        given = values if isinstance(values, dict) else {}
        for name in fields:
            setattr(self, name, given.get(name))


def _client_context(text: str) -> _Fields | None:
    """The invocation's ``ClientContext`` as Lambda's runtime gives it (``client``,
    ``custom``, ``env``), or None when the caller sent none."""
    if not text:
        return None
    document = json.loads(text)
    context = _Fields(("custom", "env"), document)
    client = document.get("client")
    client_fields = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )
    context.client = None if client is None else _Fields(client_fields, client)
    return context


def _user_frames(exc: BaseException) -> list[str]:
    """The traceback's frames of the function's own code (Lambda leaves out its runtime's)."""
    here = os.path.abspath(__file__)
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(frame.filename) != here
        and not frame.filename.startswith("<frozen importlib")
    ]
    return traceback.format_list(frames)


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    trace = _user_frames(exc) if exc is not None else []
    return {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": trace}


def _load_handler(spec: str) -> Any:
    module_name, _, func_name = spec.rpartition(".")
    if not module_name or not func_name:
        raise LookupError(_error("Runtime.MalformedHandlerName", f"Bad handler '{spec}'"))
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise LookupError(_error("Runtime.ImportModuleError", message))
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        document = _error("Runtime.UserCodeSyntaxError", message)
        document["stackTrace"] = [
            f'  File "{exc.filename}" Line {exc.lineno}\n        {(exc.text or "").strip()}\n'
        ]
        raise LookupError(document)
    except Exception as exc:  # the module's own code failed while it was imported
        raise LookupError(_error(type(exc).__name__, str(exc), exc))
    handler = getattr(module, func_name, None)
    if handler is None:
        message = f"Handler '{func_name}' missing on module '{module_name}'"
        raise LookupError(_error("Runtime.HandlerNotFound", message))
    return handler


def _decimal_number(value: object) -> object:
    """Lambda's Python runtime writes a ``Decimal`` (what boto3's DynamoDB resource reads) as
    a JSON number; anything else json cannot write is a ``Runtime.MarshalError``."""
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _RequestId(logging.Filter):
    """Gives each record the invocation's ``aws_request_id``, as Lambda's runtime does."""

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_log_handler(request_id: str) -> None:
    """The root logger's handler Lambda's Python runtime installs: records are written as
    ``[LEVEL]<tab>time<tab>request id<tab>message`` (the root level stays WARNING, so a
    handler's ``logger.setLevel(logging.INFO)`` shows its INFO records, and
    ``logging.basicConfig`` changes nothing, as on Lambda)."""
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""  # the format ends the line
    handler.setFormatter(formatter)
    handler.addFilter(_RequestId(request_id))
    logging.getLogger().addHandler(handler)


def _invoke(
    event_file: str, request_id: str, deadline_ms: int, arn: str, client_context: str
) -> dict[str, Any]:
    _install_log_handler(request_id)
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except LookupError as exc:
        document: dict[str, Any] = exc.args[0]
        print(f"[ERROR] {document['errorType']}: {document['errorMessage']}", file=sys.stderr)
        return {"error": document}
    with open(event_file, encoding="utf-8") as f:
        event = json.load(f)
    try:
        result = handler(event, LambdaContext(request_id, deadline_ms, arn, client_context))
    except Exception as exc:  # the handler's failure is the invocation's result
        document = _error(type(exc).__name__, str(exc), exc)
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc()
        return {"error": document}
    try:
        return {"payload": json.dumps(result, default=_decimal_number)}
    except (TypeError, ValueError) as exc:
        return {"error": _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")}


def main(argv: list[str]) -> int:
    event_file, result_file, request_id, deadline_ms, arn = argv[1:6]
    client_context = argv[6] if len(argv) > 6 else ""
    # not this script's own directory: the code it was started in (LAMBDA_TASK_ROOT's
    # generation when the invocation began; new code must not change a running one)
    sys.path[0] = os.getcwd()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    outcome = _invoke(event_file, request_id, int(deadline_ms), arn, client_context)
    if "error" in outcome:
        outcome["error"]["requestId"] = request_id
    with open(result_file + ".part", "w", encoding="utf-8") as f:
        json.dump(outcome, f)
    os.replace(result_file + ".part", result_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
