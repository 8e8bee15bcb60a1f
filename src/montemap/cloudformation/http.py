"""The CloudFormation and IAM endpoints (query protocol) as ASGI applications.

Placed on these applications by :mod:`montemap.api.routing` (by SigV4 scope,
or unsigned by the form's ``Version``). Each authenticates its requests
(SigV4 scoped to its own service when the server has keys), checks
process-starting actions with :func:`montemap.api.hosts.may_start_processes`,
and answers XML. The CloudFormation application also takes custom resources'
answers: ``PUT /cloudformation-response/<token>``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from montemap.api import protocol
from montemap.api.credentials import SigV4Authenticator
from montemap.api.errors import REFUSALS, to_api_error
from montemap.api.hosts import may_start_processes
from montemap.cloudformation import query
from montemap.cloudformation.responses import PREFIX, Responses
from montemap.errors import ApiError

log = logging.getLogger("montemap.cloudformation")

Authenticator = Callable[[Request, bytes], Awaitable[None]]
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: Actions whose input becomes something the host runs (templates with code).
PROCESS_STARTING = frozenset({"CreateStack", "UpdateStack", "CreateChangeSet", "ExecuteChangeSet"})
#: Largest request body (a template body of up to 1 MB, form-encoded).
MAX_BODY = 4 * 1024 * 1024


class QueryApp:
    """One query-protocol service: ``service`` is its SigV4 name and botocore model name."""

    def __init__(
        self,
        service: str,
        call: Call,
        authenticator: Authenticator | None,
        responses: Responses | None = None,
    ) -> None:
        self.service = service
        self.call = call
        self.authenticator = authenticator
        self.responses = responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self.responses is not None and scope["path"].startswith(PREFIX):
            response = await self._answer(request)
        else:
            response = await self._respond(request)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        """A custom resource's response document, PUT to its response URL."""
        assert self.responses is not None
        if request.method != "PUT":
            return Response("response URLs take PUT\n", 405)
        try:
            body = await protocol.read_body(request, 64 * 1024)
        except (ApiError, ClientDisconnect):
            return Response("the response could not be read\n", 400)
        token = request.url.path[len(PREFIX) :]
        problem = self.responses.answer(token, body)
        if problem is not None:
            return Response(problem + "\n", 400)
        return Response(b"", 200)

    async def _respond(self, request: Request) -> Response:
        try:
            body = await protocol.read_body(request, MAX_BODY)
            await self._authenticate(request, body)
            fields = query.form(body)
            action = fields.get("Action", "")
            operation = query.operation(self.service, action)
            if operation is None:
                raise ApiError("InvalidAction", f"Could not find operation {action}", status=400)
            if action in PROCESS_STARTING:
                may_start_processes(request.scope)
            params = query.read_params(operation.input_shape, fields)
            result = await self.call(action, params)
            text, request_id = query.response_xml(self.service, operation, result)
            return Response(text, 200, {"x-amzn-RequestId": request_id}, "text/xml")
        except REFUSALS as exc:
            error = to_api_error(exc)
            text, request_id = query.error_xml(self.service, error)
            return Response(text, error.status, {"x-amzn-RequestId": request_id}, "text/xml")
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:
            log.exception("internal error in %s request", self.service)
            error = ApiError(
                "InternalFailure",
                "The request processing has failed because of an internal error",
                status=500,
            )
            text, request_id = query.error_xml(self.service, error)
            return Response(text, 500, {"x-amzn-RequestId": request_id}, "text/xml")

    async def _authenticate(self, request: Request, body: bytes) -> None:
        auth = self.authenticator
        if auth is None:
            return
        if isinstance(auth, SigV4Authenticator):  # one verifier, scoped to this service
            auth = auth.for_service(self.service)
        await auth(request, body)
