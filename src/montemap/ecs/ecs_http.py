"""The ECS JSON 1.1 wire protocol in front of :class:`~montemap.ecs.ecs_api.EcsApi`.

A request is ``POST /`` with ``X-Amz-Target:
AmazonEC2ContainerServiceV20141113.<Action>``, ``Content-Type:
application/x-amz-json-1.1`` and a JSON object body; an error is a 4xx/5xx
``{"__type": "<Code>", "message": "..."}`` that botocore raises as
``client.exceptions.<Code>``. Timestamps travel as epoch seconds.

The server's main ``POST /`` route serves Step Functions too: it can hand a
request to :func:`handle_ecs_request` when :func:`is_ecs_request` says the
target is ECS's. :func:`create_ecs_app` is a standalone application.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from montemap.api.protocol import JsonRefused, strict_loads
from montemap.ecs.ecs_api import EcsApi
from montemap.errors import ApiError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
MAX_BODY_BYTES = 1024 * 1024


def is_ecs_request(request: Request) -> bool:
    """Whether the request's ``X-Amz-Target`` is an ECS action."""
    return request.headers.get("x-amz-target", "").startswith(TARGET_PREFIX)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _response(payload: object, status: int, request_id: str, error: str | None = None) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if error is not None:
        headers["x-amzn-ErrorType"] = error
    body = json.dumps(payload, default=_default, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=CONTENT_TYPE, headers=headers)


def error_response(error: ApiError, request_id: str) -> Response:
    """An ECS error body botocore maps to ``client.exceptions.<code>``."""
    return _response(
        {"__type": error.code, "message": error.message}, error.status, request_id, error.code
    )


async def _parse(request: Request, body: bytes | None = None) -> tuple[str, dict[str, Any]]:
    target = request.headers.get("x-amz-target", "")
    if not target.startswith(TARGET_PREFIX) or len(target) == len(TARGET_PREFIX):
        raise ApiError(
            "UnknownOperationException",
            f"Unknown operation {target!r}: the target must be '{TARGET_PREFIX}<Action>'",
        )
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != CONTENT_TYPE:
        raise ApiError(
            "UnknownOperationException",
            f"Unsupported Content-Type {media or 'none'!r}: send {CONTENT_TYPE}",
        )
    if body is None:
        body = b""
        async for chunk in request.stream():
            body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(
                "SerializationException", f"Request body exceeds {MAX_BODY_BYTES} bytes", status=413
            )
    if not body.strip():
        return target[len(TARGET_PREFIX) :], {}
    try:
        params = strict_loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError("SerializationException", f"The request body is not UTF-8: {exc}")
    except JsonRefused as exc:
        raise ApiError("SerializationException", f"The request body is not valid JSON: {exc}")
    if not isinstance(params, dict):
        raise ApiError("SerializationException", "The request body must be a JSON object")
    return target[len(TARGET_PREFIX) :], params


async def handle_ecs_request(api: EcsApi, request: Request, body: bytes | None = None) -> Response:
    """Answer one ECS JSON 1.1 request (``body`` when the caller has read it already)."""
    request_id = str(uuid.uuid4())
    try:
        action, params = await _parse(request, body)
        result = await api.handle_ecs(action, params)
    except ApiError as exc:
        return error_response(exc, request_id)
    except Exception:
        log.exception("internal error handling ECS request %s", request_id)
        failure = ApiError(
            "ServerException", f"Internal server error (request id {request_id})", status=500
        )
        return error_response(failure, request_id)
    return _response(result, 200, request_id)


def ecs_route(api: EcsApi, path: str = "/") -> Route:
    """A Starlette route serving the ECS protocol at ``path``."""

    async def endpoint(request: Request) -> Response:
        return await handle_ecs_request(api, request)

    return Route(path, endpoint, methods=["POST"])


def create_ecs_app(api: EcsApi, *, manage: bool = True) -> Starlette:
    """An application serving only ECS; with ``manage`` its lifespan runs the manager."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage:
            await api.manager.start()
        try:
            yield
        finally:
            if manage:
                await api.manager.close()

    return Starlette(routes=[ecs_route(api)], lifespan=lifespan)
