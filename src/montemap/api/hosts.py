"""Which requests the server answers at all, and which may start processes.

One policy for every entry point (the JSON services, S3, Lambda,
CloudFormation, ``/health``, ``/metrics`` and the console), applied at the
front of :class:`montemap.api.app.ApiApp` before any routing:

- **Host.** The ``Host`` header must name this server, so that a web page
  whose DNS name was rebound to the server's address (DNS rebinding) is not
  answered: loopback names (``localhost``, ``127.0.0.0/8``, ``[::1]``) always;
  and ``*.localhost`` (RFC 6761; S3 virtual-hosted buckets); the bound
  address when it is not loopback; any IP address literal on a wildcard bind
  (``0.0.0.0``, ``::``), whose addresses are all the machine's; and the names
  given with ``--allowed-host`` and their subdomains (servers reached by DNS
  name, or through a reverse proxy that keeps ``Host``). The port is not compared: a
  browser always connects to the port its URL names, so the name is what tells
  a rebound page apart, and an SSH tunnel (``localhost:9000`` to the server's
  8083) must keep working. Refusal: 421 Misdirected Request.
- **Origin.** A browser names the page that sent a request in ``Origin``; a
  request whose ``Origin`` is not this server (``http(s)://`` + its ``Host``)
  is refused with 403, as is ``Origin: null`` (sandboxed frames, files).
- **Fetch Metadata.** What a page of another site loads as a subresource
  (``<script src>``, ``<img>``...) carries no ``Origin`` but
  ``Sec-Fetch-Site: cross-site``: refused with 403 unless it is a top-level
  navigation (a link to the console from another site), comes from a page on a
  loopback name (its ``Referer``), or is a presigned URL on a server with keys.

Every error answer (4xx, 5xx) of every service, whichever part made it, leaves with
``nosniff``, ``Cache-Control: no-store`` and, unless it has its own, a sandboxing
``Content-Security-Policy`` (:func:`contain_errors`).

:func:`may_start_processes` is the stricter rule for actions that start
processes on the host (ECS task definitions and services, Lambda code,
CloudFormation templates): see its documentation.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from starlette.responses import Response
from starlette.types import Message, Scope, Send

from montemap.api import protocol
from montemap.api.routing import signing_service, unsigned_service
from montemap.errors import ApiError, MontemapError

#: Where the front of the app leaves the server's :class:`HostPolicy` in each request's scope.
SCOPE_KEY = "montemap.hosts"
#: Bind addresses that listen on every interface.
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
#: Request headers only browsers send: their presence marks a request a web page made.
BROWSER_HEADERS = (b"origin", b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest")
#: The headers the cross-site rule reads (:func:`_check_cross_site`): Fetch Metadata and
#: ``Referer``.
FETCH_METADATA = frozenset({b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest", b"referer"})
_HOST_NAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
_ACCEPTED_CACHE = 64  # Host headers remembered as accepted (bounded: clients choose them)
_SHOWN = 100  # characters of a client-supplied value quoted in a message


class HostsError(MontemapError):
    """An ``--allowed-host`` value that is not a host name or address."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, a bracketed IPv6 address) stays on this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, lower-cased (``[::1]:8083`` -> ``::1``); None if malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
        if not bracket or (rest and not rest.startswith(":")) or not _is_address(name):
            return None
    elif value.count(":") > 1:  # an IPv6 address without its brackets
        return value if _is_address(value) else None
    else:
        name, _, port = value.partition(":")
    if port and not (port.isdigit() and len(port) <= 5):
        return None
    name = name.rstrip(".")
    return name or None


def _normalise(name: str) -> str:
    return name.strip().strip("[]").lower().rstrip(".")


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


class HostPolicy:
    """The names a server answers to, and whether it requires signed requests."""

    def __init__(
        self, bind_host: str, allowed_hosts: Iterable[str] = (), *, keys_configured: bool = False
    ) -> None:
        self.bind_host = _normalise(bind_host)
        self.allowed_hosts = frozenset(_check_allowed(name) for name in allowed_hosts)
        self.keys_configured = keys_configured
        self._accepted: set[str | None] = set()  # Host headers already found acceptable
        self._accepted_raw: set[bytes] = set()  # the same, as they come in a scope

    def __repr__(self) -> str:
        names = sorted(self.allowed_hosts)
        return f"HostPolicy(bind_host={self.bind_host!r}, allowed_hosts={names!r})"

    def accepts(self, name: str) -> bool:
        """Whether a request naming ``name`` in its ``Host`` is for this server."""
        name = _normalise(name)
        if is_loopback(name) or name.endswith(".localhost"):  # RFC 6761: loopback
            return True
        parent = name
        while parent:  # an allowed name or a subdomain of one (S3 virtual-hosted buckets)
            if parent in self.allowed_hosts:
                return True
            parent = parent.partition(".")[2]
        if self.bind_host in WILDCARD_BINDS:
            return _is_address(name)
        return name == self.bind_host and not is_loopback(self.bind_host)

    def check_host(self, header: str | None) -> None:
        """Refuse (421) a request whose ``Host`` is missing, malformed or another server's."""
        if header in self._accepted:  # the hot path: the same few headers every time
            return
        if header is None:
            raise _refused(421, "Request refused: it has no Host header.")
        name = host_name(header)
        if name is None:
            raise _refused(421, f"Request refused: Host {_quoted(header)} is not a host name.")
        if not self.accepts(name):
            raise _refused(421, f"Request refused: Host {_quoted(name)} {self._names()}")
        if len(self._accepted) < _ACCEPTED_CACHE:
            self._accepted.add(header)

    def _names(self) -> str:
        names = ["localhost", "127.0.0.1", "[::1]"]
        if self.bind_host in WILDCARD_BINDS:
            names.append("this machine's IP addresses")
        elif not is_loopback(self.bind_host):
            names.append(self.bind_host)
        names.extend(sorted(self.allowed_hosts))
        return (
            f"is not a name of this server ({', '.join(names)}); a server reached by another "
            "DNS name needs --allowed-host NAME (this refuses DNS-rebinding web pages)."
        )

    @staticmethod
    def check_origin(origin: str | None, host_header: str) -> None:
        """Refuse (403) a browser request sent by a page that is not this server's."""
        if origin is None:
            return
        parts = urlsplit(origin.strip())
        same = (
            parts.scheme in ("http", "https")
            and parts.netloc.lower() == host_header.strip().lower()
            and not parts.path
        )
        if not same:
            raise _refused(
                403,
                f"Cross-site request refused: Origin {_quoted(origin)} is not this server "
                f"(http://{host_header.strip()}); web pages of other sites may not call it.",
            )

    def check(self, scope: Scope) -> None:
        """The checks on an ASGI scope (Host, Origin, cross-site subresources); raises
        :class:`ApiError` (421 or 403; 400 for two ``Host`` headers, RFC 9112 3.2)."""
        host: bytes | None = None
        origin: bytes | None = None
        fetch: dict[bytes, bytes] = {}
        for key, value in scope.get("headers", ()):
            if key == b"host":
                if host is not None:  # which one would each part of the server read?
                    raise _refused(400, "Request refused: it has more than one Host header.")
                host = value
            elif key == b"origin":
                if origin is not None:
                    raise _refused(403, "Request refused: it has more than one Origin header.")
                origin = value
            elif key in FETCH_METADATA:
                fetch[key] = bytes(value).strip().lower()
        if host is None or host not in self._accepted_raw:
            self.check_host(None if host is None else bytes(host).decode("latin-1"))
            if host is not None and len(self._accepted_raw) < _ACCEPTED_CACHE:
                self._accepted_raw.add(bytes(host))
        if origin is not None:
            text = "" if host is None else bytes(host).decode("latin-1")
            self.check_origin(bytes(origin).decode("latin-1"), text)
        if fetch.get(b"sec-fetch-site") == b"cross-site":
            _check_cross_site(scope, fetch, self.keys_configured)


def _check_cross_site(scope: Scope, fetch: dict[bytes, bytes], keys_configured: bool) -> None:
    """Refuse (403) what a page of another site makes the browser fetch, but a navigation.

    A ``<script src>``, ``<img>``, ``<link rel=stylesheet>``, media or ``fetch(...,
    {mode: "no-cors"})`` of another site sends no ``Origin``, yet the browser hands
    the answer to that page (a stored ``text/javascript`` object runs in it, an
    image's size is read). Browsers mark every such request ``Sec-Fetch-Site:
    cross-site``. Still answered: a top-level navigation (a link from another site
    to the console, or to an object, which opens sandboxed; not ``<object>`` or
    ``<embed>``); a load by a page on a loopback name (``http://127.0.0.1:5173``
    showing an object of ``http://localhost:8083``: its ``Referer``, which no page
    can forge); and, on a server with keys, a presigned URL (its signature, which
    the service checks, is the key holder's permission).
    """
    method = str(scope.get("method", ""))
    if (
        fetch.get(b"sec-fetch-mode") == b"navigate"
        and method in ("GET", "HEAD")
        and fetch.get(b"sec-fetch-dest") not in (b"object", b"embed")
    ):
        return
    referer = fetch.get(b"referer")
    if referer is not None:
        try:
            name = host_name(urlsplit(referer.decode("latin-1")).netloc.rpartition("@")[2])
        except ValueError:
            name = None
        if name is not None and (is_loopback(name) or name.endswith(".localhost")):
            return
    query = bytes(scope.get("query_string", b""))
    if keys_configured and b"Signature=" in query and unsigned_service(scope) is not None:
        return  # the service checks it (the server's own pages take no signature)
    raise _refused(
        403,
        "Cross-site request refused: the browser marks it Sec-Fetch-Site: cross-site "
        "(a page of another site loading it as a script, image, style sheet or fetch); "
        "web pages of other sites may not read from or call this server.",
    )


def _check_allowed(name: str) -> str:
    value = _normalise(name)
    if _is_address(value) or _HOST_NAME_RE.match(value):
        return value
    raise HostsError(
        f"--allowed-host {name!r} is not a host name or an IP address (give it without a port)"
    )


def _refused(status: int, message: str, code: str = "AccessDeniedException") -> ApiError:
    return ApiError(code, message, status=status)


#: Request headers a reverse proxy adds to say for whom it relays.
FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def is_local_request(scope: Scope) -> bool:
    """Whether a request comes from a process on this machine, by no relay: a loopback
    client, no proxy's forwarding header, and a loopback name in ``Host``.

    A reverse proxy on this machine (the TLS front docs/security.md suggests) is a
    loopback client for every remote user: its requests name the server by its
    public name (an ``--allowed-host``) or say whom they relay. An SSH tunnel's
    are local (``localhost:9000``). For what no client signs and only this
    machine may use once keys are configured (the console, ``/metrics``).
    """
    client = scope.get("client")
    if not client or not is_loopback(str(client[0])):
        return False
    host: bytes | None = None
    for key, value in scope.get("headers", ()):
        if key in FORWARDING_HEADERS:
            return False
        if key == b"host":
            host = value
    name = host_name(bytes(host).decode("latin-1")) if host is not None else None
    return name is not None and (is_loopback(name) or name.endswith(".localhost"))


def browser_mark(scope: Scope) -> str | None:
    """The first header of ``scope`` that only browsers send (``origin``, ``sec-fetch-*``)."""
    for key, _ in scope.get("headers", ()):
        if key in BROWSER_HEADERS:
            return bytes(key).decode()
    return None


def refuse_from_browser(mark: str, what: str) -> ApiError:
    """The refusal (403) of a browser request (``mark``: its browser header) for ``what``."""
    return _refused(
        403,
        f"Request refused: it carries the browser header {mark!r}, and {what} starts "
        "processes on the host; that is not accepted from web pages.",
    )


def may_start_processes(scope: Scope) -> None:
    """Refuse a request for an action that starts processes unless the server trusts it.

    Call it before doing anything for ECS RegisterTaskDefinition, CreateService,
    UpdateService and RunTask, Lambda CreateFunction, UpdateFunctionCode and
    UpdateFunctionConfiguration,
    CloudFormation CreateStack, UpdateStack, CreateChangeSet and ExecuteChangeSet
    (any action whose input becomes a command, code or template the host runs),
    after the request was authenticated::

        from montemap.api.hosts import may_start_processes
        may_start_processes(request.scope)   # raises ApiError AccessDeniedException, 403

    It refuses a request carrying browser markers (``Origin``, ``Sec-Fetch-*``):
    web pages never start processes, even the server's own. On a server with
    access keys configured it also refuses a request that was not SigV4
    authenticated: the authenticator must have left the key id in
    ``scope["state"]["access_key_id"]`` (``request.state.access_key_id``, as
    :class:`montemap.api.credentials.SigV4Authenticator` does).
    """
    mark = browser_mark(scope)
    if mark is not None:
        raise _refused(
            403,
            f"Request refused: it carries the browser header {mark!r}, and "
            "actions that start processes on the host (task definitions, services, tasks, "
            "function code and configuration, templates) are not accepted from web pages.",
        )
    policy = scope.get(SCOPE_KEY)
    keys_configured = isinstance(policy, HostPolicy) and policy.keys_configured
    state = scope.get("state") or {}
    if keys_configured and not state.get("access_key_id"):
        raise _refused(
            403,
            "Request refused: actions that start processes on the host need a request "
            "signed with one of the server's access keys.",
        )


#: On every refusal of the policy, whatever the path: the request may come from a page
#: of another site (that is why it is refused), so its answer is never sniffed as a page,
#: runs nothing, is framed nowhere and is not cached (a cached refusal would be answered
#: again once the name is allowed).
REFUSAL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


#: The ``X-Amz-Target`` prefix of ECS's actions (``montemap.ecs.ecs_http.TARGET_PREFIX``).
ECS_TARGET_PREFIX = b"AmazonEC2ContainerServiceV20141113."
#: The services whose errors are the query protocol's XML ``ErrorResponse``.
QUERY_SERVICES = frozenset({"query", "cloudformation", "iam", "sts"})


def _is_ecs(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"x-amz-target":
            return bytes(value).startswith(ECS_TARGET_PREFIX)
    return False


def refusal(scope: Scope, error: ApiError) -> Response:
    """``error`` in the shape the service the request is for answers errors in (its SDK
    parses it as its own: S3's and the query services' XML, Lambda's REST JSON, ECS's
    JSON 1.1, Step Functions' JSON 1.0), with :data:`REFUSAL_HEADERS`."""
    service = signing_service(scope) or unsigned_service(scope) or "json"
    request_id = protocol.new_request_id()
    if service in ("json", "states", "ecs") and _is_ecs(scope):
        service = "ecs"
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{escape(error.message)}</Message><RequestId>{request_id}</RequestId>"
            "</Error>"
        )
        response = Response(body, error.status, {"x-amz-request-id": request_id}, "application/xml")
    elif service in QUERY_SERVICES:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        response = Response(body, error.status, {"x-amzn-RequestId": request_id}, "text/xml")
    elif service in ("lambda", "ecs"):
        headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
        if service == "lambda":  # REST JSON: SDKs read the code from x-amzn-ErrorType
            payload = {"Type": "User", "Code": error.code, "Message": error.message}
            media_type = "application/json"
        else:
            payload = {"__type": error.code, "message": error.message}
            media_type = "application/x-amz-json-1.1"
        response = Response(json.dumps(payload), error.status, headers, media_type)
    else:
        response = protocol.error_response(error, request_id=request_id)
    response.headers.update(REFUSAL_HEADERS)
    return response


_CONTAINED_ERROR = (
    (b"x-content-type-options", REFUSAL_HEADERS["X-Content-Type-Options"].encode()),
    (b"cache-control", REFUSAL_HEADERS["Cache-Control"].encode()),
)
_ERROR_CSP = (b"content-security-policy", REFUSAL_HEADERS["Content-Security-Policy"].encode())


def contain_errors(send: Send) -> Send:
    """``send``, adding to an error answer (status 400 and above) what every refusal
    carries (:data:`REFUSAL_HEADERS`): ``nosniff`` and ``no-store`` always, in place of
    any the service set, and the sandboxing policy unless the answer has a policy of its
    own (the console's pages, S3's). An error of any service may be the answer to a
    page of another site that made the request; it is never a page, nor cached."""

    async def contained(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status", 200) >= 400:
            drop = {name for name, _ in _CONTAINED_ERROR}
            headers = [
                (name, value)
                for name, value in message.get("headers", ())
                if bytes(name).lower() not in drop
            ]
            headers.extend(_CONTAINED_ERROR)
            if not any(bytes(name).lower() == _ERROR_CSP[0] for name, _ in headers):
                headers.append(_ERROR_CSP)
            message = {**message, "headers": headers}
        await send(message)

    return contained
