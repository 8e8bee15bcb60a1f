"""Which AWS service a request on the one endpoint is for.

Every service montemap speaks shares one port, as a single ``AWS_ENDPOINT_URL``
expects. A signed request names its service in its SigV4 credential scope
(``Credential=<id>/<date>/<region>/<service>/aws4_request``, in the
``Authorization`` header or, for presigned URLs, the ``X-Amz-Credential``
query parameter); that decides. An unsigned request is placed by its shape:
an ``X-Amz-Target`` header is a JSON 1.0 service (Step Functions, ECS), the
Lambda REST paths start with ``/2015-03-31/`` (and the few later dates of
:data:`LAMBDA_PREFIXES`), a form-encoded ``POST /`` is a
query-protocol service (CloudFormation, IAM, STS: told apart by their ``Version``),
and any other path that no montemap page claims is S3 (path-style).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Scope

#: Paths the server itself serves (health, metrics, the console) for unsigned requests.
OWN_PREFIXES = ("/health", "/metrics", "/console")
#: The service of JSON 1.0 requests (``X-Amz-Target``), served by the dispatcher.
JSON_SERVICES = frozenset({"states", "ecs"})

_CREDENTIAL_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
_QUERY_VERSIONS = {"2010-05-15": "cloudformation", "2010-05-08": "iam", "2011-06-15": "sts"}


#: The paths of Lambda's REST API: ``/2015-03-31/`` for functions, versions, aliases
#: and invocations; tags, reserved concurrency and account settings came later under
#: their own dates.
LAMBDA_PREFIXES = (
    "/2015-03-31/",
    "/2017-03-31/tags/",
    "/2017-10-31/functions/",
    "/2019-09-30/functions/",
    "/2021-11-15/functions/",  # InvokeWithResponseStream
    "/2016-08-19/account-settings",
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def signing_service(scope: Scope) -> str | None:
    """The SigV4 service a request is signed for, or ``None`` for an unsigned one."""
    authorization = _header(scope, b"authorization")
    if authorization:
        match = _CREDENTIAL_RE.search(authorization)
        return match.group(1) if match else None
    query = scope.get("query_string", b"")
    if b"X-Amz-Credential=" in query:
        values = parse_qs(bytes(query).decode("latin-1")).get("X-Amz-Credential", [])
        if values:
            parts = values[0].split("/")
            if len(parts) == 5:
                return parts[3]
    return None


def unsigned_service(scope: Scope, form_version: str | None = None) -> str | None:
    """The service an unsigned request is for, by its shape; ``None`` for the server's own pages.

    ``form_version`` is the ``Version`` field of a form-encoded body, when the
    caller has read it (query-protocol services send it in the body).
    """
    path: str = scope.get("path", "/")
    if _header(scope, b"x-amz-target") is not None:
        return "json"
    if path.startswith(LAMBDA_PREFIXES):
        return "lambda"
    if path == "/" and scope.get("method") == "POST":
        content_type = (_header(scope, b"content-type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            return _QUERY_VERSIONS.get(form_version or "", "query")
        return "json"
    if path == "/" or any(path == p or path.startswith(p + "/") for p in OWN_PREFIXES):
        return None
    return "s3"


@dataclass(frozen=True)
class ServiceApps:
    """The ASGI application of each non-JSON service, by SigV4 service name.

    ``rest`` holds services whose requests can be placed from the scope alone
    (``"s3"``, ``"lambda"``); ``query`` the form-encoded ``POST /`` services
    (``"cloudformation"``, ``"iam"``, ``"sts"``), placed by signature or, unsigned, by the
    body's ``Version``. Each application authenticates its own requests.
    """

    rest: Mapping[str, ASGIApp]
    query: Mapping[str, ASGIApp]

    def get(self, service: str) -> ASGIApp | None:
        return self.rest.get(service) or self.query.get(service)
