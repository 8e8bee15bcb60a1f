"""The AWS JSON 1.0 wire protocol as Step Functions speaks it.

A request is ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Action>``,
``Content-Type: application/x-amz-json-1.0`` and a JSON object body. A
response carries the same content type; an error is an HTTP 4xx/5xx with
``{"__type": "<namespace>#<Code>", "message": "..."}``, which botocore turns
into ``client.exceptions.<Code>``. Timestamps travel as epoch seconds.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from montemap.engine.jsontext import compact_encoder
from montemap.errors import ApiError
from montemap.jsontypes import json_type_name

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."
#: AWS's quota: 1 MB per Step Functions API request, body included.
MAX_BODY_BYTES = 1024 * 1024

#: Errors the service framework (not Step Functions) raises carry this namespace.
_CORAL_CODES = frozenset({"SerializationException", "UnknownOperationException", "InternalFailure"})
_SFN_NAMESPACE = "com.amazonaws.sfn"
_CORAL_NAMESPACE = "com.amazon.coral.service"


def serialization_error(message: str) -> ApiError:
    """A body that is not the JSON the operation expects."""
    return ApiError("SerializationException", message)


def unknown_operation(message: str) -> ApiError:
    return ApiError("UnknownOperationException", message)


def validation_error(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return epoch_seconds(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def epoch_seconds(value: datetime) -> float:
    """A datetime as the protocol's timestamp (epoch seconds; naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def dumps(payload: object) -> bytes:
    """JSON for the wire: compact, UTF-8, datetimes as epoch seconds."""
    return _encode(payload).encode("utf-8")


_encode = compact_encoder(_json_default)


def _headers(request_id: str) -> dict[str, str]:
    return {"x-amzn-RequestId": request_id}


class _JsonResponse(Response):
    """A 200 JSON protocol response with its header list built directly (the hot path)."""

    def __init__(self, body: bytes, request_id: str) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"x-amzn-requestid", request_id.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", _CONTENT_TYPE_BYTES),
        ]


_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode("latin-1")


def json_response(payload: object, *, request_id: str | None = None) -> Response:
    """A 200 response with the JSON protocol's content type."""
    return _JsonResponse(dumps(payload), request_id or new_request_id())


def error_response(error: ApiError, *, request_id: str | None = None) -> Response:
    """An error response botocore maps to ``client.exceptions.<code>``."""
    namespace = _CORAL_NAMESPACE if error.code in _CORAL_CODES else _SFN_NAMESPACE
    headers = _headers(request_id or new_request_id())
    headers["x-amzn-ErrorType"] = error.code
    return Response(
        dumps({"__type": f"{namespace}#{error.code}", "message": error.message}),
        status_code=error.status,
        media_type=CONTENT_TYPE,
        headers=headers,
    )


#: Request ids need to be unique, not secret: a seeded PRNG is ~4x cheaper than uuid4().
_random = random.Random()


def new_request_id() -> str:
    """A version-4 UUID string, as AWS's request ids look."""
    h = f"{_random.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def check_content_type(request: Request) -> None:
    """Refuse anything but ``application/x-amz-json-1.0`` (parameters allowed)."""
    raw = request.headers.get("content-type", "")
    media_type = raw.split(";", 1)[0].strip().lower()
    if media_type != CONTENT_TYPE:
        shown = raw or "none"
        raise unknown_operation(
            f"Unsupported Content-Type {shown!r}: requests must be sent as {CONTENT_TYPE}"
        )


def action_name(request: Request) -> str:
    """The ``<Action>`` of ``X-Amz-Target: AWSStepFunctions.<Action>``."""
    target = request.headers.get("x-amz-target")
    if not target:
        raise unknown_operation(f"Missing X-Amz-Target header (expected '{TARGET_PREFIX}<Action>')")
    if not target.startswith(TARGET_PREFIX) or len(target) == len(TARGET_PREFIX):
        raise unknown_operation(
            f"Unknown operation {target!r}: the target must be '{TARGET_PREFIX}<Action>'"
        )
    return target[len(TARGET_PREFIX) :]


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused (without reading it all) when over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise serialization_error(f"Invalid Content-Length header {declared!r}")
        if size > limit:
            raise _too_large(limit)
    # The ASGI messages read directly (``request.stream()``, an async generator, costs
    # more than the rest of this function for the small bodies of the API).
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # what Request.body()/stream() return if anything asks again
    return body


def _too_large(limit: int) -> ApiError:
    return validation_error(f"Request body exceeds the maximum request size of {limit} bytes")


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object."""
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise serialization_error(f"Request body is not valid UTF-8 (byte {exc.start})")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise serialization_error(
            f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
    if not isinstance(value, dict):
        raise serialization_error(
            f"Request body must be a JSON object, not {json_type_name(value)}"
        )
    return value


def _reject_constant(name: str) -> Any:
    """JSON has no NaN or Infinity; Python's parser would accept them."""
    raise serialization_error(f"Request body is not valid JSON: {name} is not a JSON value")
