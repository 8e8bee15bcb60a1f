"""InvokeWithResponseStream's answer: messages of the AWS event stream encoding.

Each message is a prelude (total and headers lengths, their CRC32), string headers
(``:message-type``, ``:event-type``, ``:content-type``), the payload and the whole
message's CRC32, as botocore's event stream parser reads them. The answer holds the
function's bytes as ``PayloadChunk`` events, then one ``InvokeComplete`` event (its
error, if any, and the log's tail).
"""

from __future__ import annotations

import json
import struct
import zlib

from montemap.lambda_api.runtime import Outcome

#: The most bytes one ``PayloadChunk`` carries (an event stream message is at most 16 MB).
CHUNK_BYTES = 1024 * 1024
_STRING = 7  # the header value type for a UTF-8 string


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message."""
    encoded = b"".join(
        struct.pack(">B", len(name)) + name + struct.pack(">BH", _STRING, len(value)) + value
        for name, value in ((k.encode(), v.encode()) for k, v in headers.items())
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _event(kind: str, content_type: str, payload: bytes) -> bytes:
    headers = {":message-type": "event", ":event-type": kind, ":content-type": content_type}
    return message(headers, payload)


def answer(outcome: Outcome, log_tail: str | None) -> bytes:
    """The event stream of an invocation: its payload in chunks, then ``InvokeComplete``.

    A function error sends no payload: ``InvokeComplete`` carries its ``errorType`` as
    ``ErrorCode`` and its ``errorMessage`` as ``ErrorDetails``.
    """
    parts: list[bytes] = []
    complete: dict[str, str] = {}
    if outcome.function_error:
        try:
            document = json.loads(outcome.payload)
        except ValueError:
            document = {}
        complete["ErrorCode"] = str(outcome.error_type or "Unhandled")
        complete["ErrorDetails"] = str(document.get("errorMessage", outcome.payload))
    else:
        body = outcome.body
        for start in range(0, len(body), CHUNK_BYTES):
            chunk = body[start : start + CHUNK_BYTES]
            parts.append(_event("PayloadChunk", "application/octet-stream", chunk))
    if log_tail is not None:
        complete["LogResult"] = log_tail
    parts.append(_event("InvokeComplete", "application/json", json.dumps(complete).encode()))
    return b"".join(parts)
