"""Custom resources (``AWS::CloudFormation::CustomResource``, ``Custom::*``) backed by a Lambda.

The function named by ``ServiceToken`` gets the Create, Update or Delete
event CloudFormation sends, with a ``ResponseURL`` served by this server
(:mod:`montemap.cloudformation.responses`), and answers by PUTting its result
there (``cfnresponse.send``). A function that fails before answering fails the
resource at once with its error; one that never answers fails it after the
configured timeout (``MONTEMAP_CUSTOM_RESOURCE_TIMEOUT``, default 300 s; AWS
waits an hour).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from montemap.cloudformation.errors import ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request, required
from montemap.errors import ApiError
from montemap.lambda_api.names import parse_function_name


def _event(request: Request, request_type: str, url: str) -> dict[str, Any]:
    props = {k: v for k, v in request.properties.items()}
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": props.get("ServiceToken"),
        "ResponseURL": url,
        "StackId": request.stack_id,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": request.logical_id,
        "ResourceType": request.resource_type,
        "ResourceProperties": props,
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = request.physical_id
    if request_type == "Update":
        event["OldResourceProperties"] = request.old_properties
    return event


def _failure_text(payload: str) -> str:
    try:
        error = json.loads(payload)
    except ValueError:
        return payload[:500]
    if isinstance(error, dict):
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"[:500]
    return str(error)[:500]


async def _send(request: Request, request_type: str) -> dict[str, Any]:
    """Invoke the function and wait for its response document."""
    services = request.services
    token = str(required(request, "ServiceToken"))
    url, answered = services.responses.expect()
    event = _event(request, request_type, url)
    try:
        ref = parse_function_name(token)
        invocation = asyncio.ensure_future(services.lambdas.invoke(ref, json.dumps(event)))
    except ApiError as exc:
        services.responses.forget(url)
        raise ResourceFailure(f"Custom resource ServiceToken {token}: {exc.message}")
    timeout = services.custom_resource_timeout
    try:
        done, _ = await asyncio.wait(
            {answered, invocation}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if answered not in done and invocation in done:
            failure = _invocation_failure(invocation, token)
            if failure is not None:
                raise ResourceFailure(failure)
            done, _ = await asyncio.wait({answered}, timeout=timeout)
        if answered not in done:
            raise ResourceFailure(
                f"Custom resource did not answer within {timeout:g} s: no response was PUT to "
                f"its ResponseURL (RequestId {event['RequestId']}, function {token})"
            )
        response: dict[str, Any] = answered.result()
        return response
    finally:
        services.responses.forget(url)
        if not invocation.done():
            invocation.cancel()
            with contextlib.suppress(BaseException):
                await invocation


def _invocation_failure(invocation: asyncio.Future[Any], token: str) -> str | None:
    error = invocation.exception()
    if isinstance(error, ApiError):
        return f"Custom resource ServiceToken {token}: {error.message}"
    if error is not None:
        return f"Custom resource function {token} could not run: {error}"
    outcome, _ = invocation.result()
    if outcome.function_error:
        return (
            f"Custom resource function {token} failed before answering: "
            f"{_failure_text(outcome.payload)}"
        )
    return None


def _outcome(request: Request, response: dict[str, Any]) -> Outcome:
    if response.get("Status") != "SUCCESS":
        raise ResourceFailure(
            "Received response status [FAILED] from custom resource. Message returned: "
            f"{response.get('Reason', '')}"
        )
    data = response.get("Data") or {}
    physical = str(response.get("PhysicalResourceId") or request.physical_id or request.logical_id)
    return Outcome(physical, dict(data) if isinstance(data, dict) else {})


class CustomResourceProvider:
    async def create(self, request: Request) -> Outcome:
        return _outcome(request, await _send(request, "Create"))

    async def update(self, request: Request) -> Outcome:
        return _outcome(request, await _send(request, "Update"))

    async def delete(self, request: Request) -> None:
        response = await _send(request, "Delete")
        if response.get("Status") != "SUCCESS":
            raise ResourceFailure(
                "Received response status [FAILED] from custom resource. Message returned: "
                f"{response.get('Reason', '')}"
            )
