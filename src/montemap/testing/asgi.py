"""One AWS JSON 1.0 request straight into an ASGI app, without a socket.

For tests that must see what a response does at the moment it leaves (the ASGI
``send``) or that run hundreds of requests in one event loop next to the engine.
:func:`json10_scope` builds the request's scope; :func:`call_json10` runs it
through the app and returns the decoded response. The client never disconnects.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The service prefix of Step Functions' ``X-Amz-Target``.
STEP_FUNCTIONS = "AWSStepFunctions"
#: The address the scope says the request came to (a loopback Host the API accepts).
SERVER = ("127.0.0.1", 2)
CLIENT = ("127.0.0.1", 1)


@dataclass(frozen=True)
class AsgiResponse:
    """What the app sent: the status, the headers and the body, decoded as JSON
    (``{}`` for an empty body)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: Any


def json10_scope(target: str, length: int) -> dict[str, Any]:
    """The ASGI scope of an AWS JSON 1.0 ``POST /`` whose ``X-Amz-Target`` is
    ``target`` (``AWSStepFunctions.StartExecution``) and body ``length`` bytes."""
    host, port = SERVER
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", f"{host}:{port}".encode()),
            (b"x-amz-target", target.encode()),
            (b"content-type", b"application/x-amz-json-1.0"),
            (b"content-length", str(length).encode()),
        ],
        "client": CLIENT,
        "server": SERVER,
    }


async def call_json10(
    app: Any,
    action: str,
    body: dict[str, Any],
    *,
    service: str = STEP_FUNCTIONS,
    on_start: Callable[[], object] | None = None,
) -> AsgiResponse:
    """Send ``body`` to ``service.action`` through ``app``; the response.

    ``on_start()`` runs when the response starts to leave (its
    ``http.response.start`` message), before the message is recorded.
    """
    raw = json.dumps(body).encode()
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if on_start is not None and message["type"] == "http.response.start":
            on_start()
        sent.append(message)

    await app(json10_scope(f"{service}.{action}", len(raw)), receive, send)
    start = sent[0]
    content = b"".join(m.get("body", b"") for m in sent[1:] if m["type"] == "http.response.body")
    return AsgiResponse(
        status=int(start["status"]),
        headers=list(start.get("headers", [])),
        body=json.loads(content or b"{}"),
    )
