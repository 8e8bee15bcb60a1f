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
import re
import sys
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from montemap.engine.jsontext import compact_encoder, json_string
from montemap.errors import ApiError, MontemapError
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
    if type(payload) is Encoded:
        return payload.text.encode("utf-8")
    return _encode(payload).encode("utf-8")


class Encoded(dict[str, Any]):
    """A result whose wire JSON is made already (``text``, what :func:`dumps` would make)."""

    def __init__(self, payload: dict[str, Any], text: str) -> None:
        super().__init__(payload)
        self.text = text


def task_answer(token: str, task_input: str) -> Encoded:
    """GetActivityTask's answer; a large input escaped once (:func:`json_string`).

    The ResultWriter's record of a Map child escapes the same input text again.
    """
    text = f'{{"taskToken":{encode_basestring(token)},"input":{json_string(task_input)}}}'
    return Encoded({"taskToken": token, "input": task_input}, text)


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
    """The body as a JSON object; an empty body is an empty object.

    Everything :func:`strict_loads` refuses (too deep, NaN, numbers a double
    cannot hold, lone surrogates) is a ``SerializationException``, so nothing a
    request carries can fail later when it is stored or encoded again.
    """
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise serialization_error(f"Request body is not valid UTF-8 (byte {exc.start})")
    try:
        value = strict_loads(text)
    except JsonRefused as exc:
        raise serialization_error(f"Request body is not valid JSON: {exc}")
    if not isinstance(value, dict):
        raise serialization_error(
            f"Request body must be a JSON object, not {json_type_name(value)}"
        )
    return value


# --------------------------------------------------------------------------- strict JSON

#: The deepest nesting of arrays and objects accepted in a request body or in a
#: JSON document carried in one (execution input, task output, definition).
#: AWS documents no limit; 512 is far deeper than any real document and far
#: below what would exhaust the parser's stack.
MAX_JSON_DEPTH = 512

#: The largest magnitude an IEEE 754 double holds; an integer beyond it cannot
#: be a JSON number anywhere (JSONata, AWS's own parsers) and is refused.
MAX_DOUBLE = sys.float_info.max
_MAX_INT = int(MAX_DOUBLE)
_MAX_INT_DIGITS = len(str(_MAX_INT))

#: A JSON string; one left open runs to the end of the text (so an opened string of
#: many escaped quotes is scanned once, not once per quote: linear on any text).
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_BRACKET_RE = re.compile(r"[\[\]{}]")
#: A ``\uD800``-``\uDFFF`` escape: the only way a lone surrogate gets into parsed text
#: (a UTF-8 body cannot encode one, the decoder refuses it).
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
#: An integer outside a double's range has more digits than the largest double:
#: only text holding such a run of digits is parsed with the integer check. (A float
#: token is always checked: the parser hands only fractions and exponents to it, and
#: they are rare in API bodies; scanning every body for them cost more than the parse.)
_LONG_DIGITS_RE = re.compile(f"[0-9]{{{_MAX_INT_DIGITS}}}")


class JsonRefused(MontemapError):
    """JSON that montemap refuses to accept; the message says what and where."""


def strict_loads(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse ``text`` as JSON that every part of montemap (and SQLite) can hold.

    Refused with :class:`JsonRefused`: text that is not JSON, ``NaN`` and
    ``Infinity``, numbers outside an IEEE double's range, nesting deeper than
    ``max_depth`` (checked before parsing, so a 100,000-deep document costs a
    scan, not a ``RecursionError``) and strings that are not valid Unicode
    (lone surrogates written as ``\\ud800``), in keys or values, at any depth.
    """
    check_depth(text, max_depth)
    long_digits = len(text) >= _MAX_INT_DIGITS and _LONG_DIGITS_RE.search(text) is not None
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = (_CHECKED_INTS if long_digits else _DECODER).decode(text)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # pragma: no cover - check_depth keeps documents shallower
        raise JsonRefused(f"nested more than {max_depth} levels deep") from None
    if _SURROGATE_ESCAPE_RE.search(text) is not None:
        check_strings(value)
    return value


def check_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON text whose arrays and objects nest deeper than ``max_depth``."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot be deeper than it has openers
    depth = 0
    for bracket in _BRACKET_RE.findall(_STRING_RE.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise JsonRefused(f"nested more than {max_depth} levels deep")
        else:
            depth -= 1


def check_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a parsed value (from YAML, say) that :func:`strict_loads` would refuse."""
    _walk(value, max_depth, numbers=True)


def check_strings(value: Any) -> None:
    """Refuse a parsed value holding a string that is not valid Unicode."""
    _walk(value, None, numbers=False)


def _walk(value: Any, max_depth: int | None, *, numbers: bool) -> None:
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item, where)
        elif isinstance(item, dict | list):
            if max_depth is not None and depth >= max_depth:
                raise JsonRefused(f"nested more than {max_depth} levels deep at {where}")
            if isinstance(item, dict):
                for key, member in item.items():
                    _check_string(key, f"a key of {where}")
                    stack.append((member, f"{where}.{key}", depth + 1))
            else:
                stack.extend((member, f"{where}[{i}]", depth + 1) for i, member in enumerate(item))
        elif numbers and isinstance(item, int | float) and not isinstance(item, bool):
            _check_number(item, where)


def _check_string(text: str, where: str) -> None:
    if not text.isascii():
        found = _SURROGATE_RE.search(text)
        if found is not None:
            raise JsonRefused(
                f"the string at {_printable(where)} holds a lone surrogate "
                f"\\u{ord(found.group()):04x}, which is not a Unicode scalar value"
            )


def _printable(where: str) -> str:
    """A location safe to put in a UTF-8 message (it may hold the bad key itself)."""
    return where.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_number(number: float, where: str) -> None:
    if isinstance(number, float):
        if number != number or number in (float("inf"), float("-inf")):
            raise JsonRefused(f"{number} at {_printable(where)} is not a JSON number")
    elif abs(number) > _MAX_INT:
        raise JsonRefused(f"the integer at {_printable(where)} is outside the range of a double")


def _parse_int(token: str) -> int:
    digits = len(token) - token.startswith("-")
    if digits > _MAX_INT_DIGITS:
        raise JsonRefused(f"the number {_shorten(token)} is outside the range of a double")
    number = int(token)
    if abs(number) > _MAX_INT:
        raise JsonRefused(f"the number {_shorten(token)} is outside the range of a double")
    return number


def _parse_float(token: str) -> float:
    number = float(token)
    if number in (float("inf"), float("-inf")):
        raise JsonRefused(f"the number {_shorten(token)} is outside the range of a double")
    return number


def _shorten(token: str) -> str:
    return token if len(token) <= 40 else f"{token[:20]}...({len(token)} characters)"


def _refuse_constant(name: str) -> Any:
    """JSON has no NaN or Infinity; Python's parser would accept them."""
    raise JsonRefused(f"{name} is not a JSON value")


#: The parsers :func:`strict_loads` uses, made once (``json.loads`` with any keyword
#: builds a new decoder per call): NaN/Infinity refused, every float token checked, and
#: with :data:`_CHECKED_INTS` every integer too.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_parse_float)
_CHECKED_INTS = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_parse_float, parse_int=_parse_int
)
