"""The CloudFormation and IAM endpoints (query protocol) as ASGI applications.

Placed on these applications by :mod:`montemap.api.routing` (by SigV4 scope,
or unsigned by the form's ``Version``). The request loop is
:class:`montemap.cloudformation.query.QueryApp`'s (STS's too): SigV4 scoped to
the service when the server has keys, refusals under the query protocol's
codes, XML answers. Here CloudFormation's actions that start processes are
checked with :func:`montemap.api.hosts.may_start_processes`, and the
CloudFormation application also takes custom resources' answers:
``PUT /cloudformation-response/<token>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from montemap.api import protocol
from montemap.api.app import Authenticator
from montemap.cloudformation import query
from montemap.cloudformation.query import Signer
from montemap.cloudformation.responses import PREFIX, Responses
from montemap.errors import ApiError

__all__ = ["PROCESS_STARTING", "Authenticator", "Call", "QueryApp"]

#: A CloudFormation or IAM action run on its parameters (neither asks who signed).
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

#: Actions whose input becomes something the host runs (templates with code).
PROCESS_STARTING = frozenset({"CreateStack", "UpdateStack", "CreateChangeSet", "ExecuteChangeSet"})


class QueryApp(query.QueryApp):
    """CloudFormation or IAM: the query protocol's application, with CloudFormation's extras."""

    def __init__(
        self,
        service: str,
        call: Call,
        authenticator: Authenticator | None,
        responses: Responses | None = None,
    ) -> None:
        starting = PROCESS_STARTING if service == "cloudformation" else frozenset()

        async def run(action: str, params: dict[str, Any], _: Signer) -> dict[str, Any]:
            return await call(action, params)

        super().__init__(service, run, authenticator, process_starting=starting)
        self.responses = responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self.responses is not None and scope["path"].startswith(PREFIX):
            response = await self._answer(request)
        else:
            response = await self.respond(request)
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
