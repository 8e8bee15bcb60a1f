"""The STS endpoint (query protocol, ``Version=2011-06-15``) as an ASGI application.

Placed on it by :mod:`montemap.api.routing` (a signature scoped to ``sts``,
or unsigned, the form's ``Version``). It authenticates the request with the
server's authenticator scoped to ``sts`` (temporary credentials included,
:mod:`.sessions`), finds the caller, runs the action and answers XML in
STS's shape; errors are ``<ErrorResponse>`` documents with the codes of
STS's Common Errors (a refused signature is ``InvalidClientTokenId`` or
``SignatureDoesNotMatch``, HTTP 403, as STS answers it).
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from montemap.api import protocol, sigv4
from montemap.api.app import Authenticator
from montemap.api.credentials import SigV4Authenticator
from montemap.cloudformation import query
from montemap.errors import ApiError
from montemap.sts.actions import Caller, Sts

log = logging.getLogger("montemap.sts")

SERVICE = "sts"
#: Largest request body (a 2,048-character policy, ten policy ARNs and 50 tags, encoded).
MAX_BODY = 256 * 1024
#: The SigV4 refusals under the names the query protocol's Common Errors give them.
_AUTH_CODES: dict[str, tuple[str, int]] = {
    sigv4.MISSING_TOKEN: ("MissingAuthenticationToken", 403),
    sigv4.INCOMPLETE_SIGNATURE: ("IncompleteSignature", 400),
    sigv4.UNRECOGNIZED_CLIENT: ("InvalidClientTokenId", 403),
    sigv4.INVALID_SIGNATURE: ("SignatureDoesNotMatch", 403),
    "ExpiredToken": ("ExpiredToken", 400),
}


def _xml(error: ApiError) -> Response:
    text, request_id = query.error_xml(SERVICE, error)
    return Response(text, error.status, {"x-amzn-RequestId": request_id}, "text/xml")


class StsApp:
    """STS on the server's endpoint."""

    def __init__(self, sts: Sts, authenticator: Authenticator | None) -> None:
        self.sts = sts
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        try:
            body = await protocol.read_body(request, MAX_BODY)
            try:
                await self._authenticate(request, body)
            except ApiError as exc:
                code, status = _AUTH_CODES.get(exc.code, (exc.code, exc.status))
                return _xml(ApiError(code, exc.message, status=status))
            fields = query.form(body)
            action = fields.get("Action", "")
            operation = query.operation(SERVICE, action)
            if operation is None:
                raise ApiError("InvalidAction", f"Could not find operation {action}", status=400)
            params = query.read_params(operation.input_shape, fields)
            result = self.sts.call(action, params, self._caller(request))
            text, request_id = query.response_xml(SERVICE, operation, result)
            return Response(text, 200, {"x-amzn-RequestId": request_id}, "text/xml")
        except ApiError as exc:
            return _xml(exc)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:
            log.exception("internal error in an sts request")
            return _xml(
                ApiError(
                    "InternalFailure",
                    "The request processing has failed because of an internal error",
                    status=500,
                )
            )

    async def _authenticate(self, request: Request, body: bytes) -> None:
        auth = self.authenticator
        if auth is None:
            return
        if isinstance(auth, SigV4Authenticator):  # one verifier, scoped to this service
            auth = auth.for_service(SERVICE)
        await auth(request, body)

    def _caller(self, request: Request) -> Caller:
        """Who signed the request (already authenticated when the server has keys)."""
        key_id: str | None = None
        header = request.headers.get("authorization")
        if header:
            try:
                key_id = sigv4.parse_authorization(header).access_key_id
            except ApiError:
                key_id = None  # a server without keys takes any Authorization
        token = request.headers.get("x-amz-security-token")
        return self.sts.caller(key_id, token)
