"""The STS endpoint (query protocol, ``Version=2011-06-15``) as an ASGI application.

Placed on it by :mod:`montemap.api.routing` (a signature scoped to ``sts``,
or unsigned, the form's ``Version``). The request loop is the query
protocol's (:class:`montemap.cloudformation.query.QueryApp`, shared with
CloudFormation and IAM): the server's authenticator scoped to ``sts``
(temporary credentials included, :mod:`.sessions`), ``<ErrorResponse>``
documents with the codes of the Common Errors (a refused signature is
``InvalidClientTokenId`` or ``SignatureDoesNotMatch``, HTTP 403). Each
action is given its caller, found from the request's signer.
"""

from __future__ import annotations

from typing import Any

from montemap.api.app import Authenticator
from montemap.cloudformation import query
from montemap.sts.actions import Sts

SERVICE = "sts"
#: Largest request body (a 2,048-character policy, ten policy ARNs and 50 tags, encoded).
MAX_BODY = 256 * 1024


class StsApp(query.QueryApp):
    """STS on the server's endpoint."""

    def __init__(self, sts: Sts, authenticator: Authenticator | None) -> None:
        super().__init__(SERVICE, self._run, authenticator, max_body=MAX_BODY)
        self.sts = sts

    async def _run(
        self, action: str, params: dict[str, Any], signer: query.Signer
    ) -> dict[str, Any]:
        caller = self.sts.caller(signer.access_key_id, signer.session_token)
        return self.sts.call(action, params, caller)
