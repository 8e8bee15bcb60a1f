"""Who may use the console, and how its state-changing requests are protected.

- **Clients.** When the server checks credentials (it listens beyond
  loopback), the console, which has no login of its own, answers only
  local requests (:func:`montemap.api.hosts.is_local_request`: a loopback
  client naming the server by a loopback name, through no proxy); others
  get 403 with the reason.
- **Host header.** The server's one host policy
  (:class:`montemap.api.hosts.HostPolicy`: loopback names, the bound address,
  ``--allowed-host`` names), so a hostile site that rebinds its DNS name to
  127.0.0.1 cannot reach the console through the browser. The front of the
  API application applies it to every request already; the console checks
  again so that it stays safe wherever it is mounted.
- **Cross-site requests.** Every POST carries the per-session token from the
  ``montemap_console_csrf`` cookie (SameSite=Strict, HttpOnly) in a hidden
  ``csrf_token`` field or an ``X-CSRF-Token`` header, compared in constant
  time, and its ``Origin`` (or, without one, ``Referer``) must be this server.
- **Responses**, errors and redirects included, carry a strict
  Content-Security-Policy (scripts and styles only from ``/console/static``),
  ``nosniff``, a same-origin Referrer-Policy and no framing.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from montemap.api.hosts import SCOPE_KEY, HostPolicy, is_local_request
from montemap.errors import ApiError, MontemapError

log = logging.getLogger("montemap.console")

COOKIE = "montemap_console_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'"
)
#: A stored report: its own inline styles and images, no scripts, sandboxed.
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self';"
    " base-uri 'none'; form-action 'none'; sandbox"
)


class Refused(MontemapError):
    """A request the console will not serve: an HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Guard:
    """Applies the rules above to console requests."""

    def __init__(
        self, *, loopback_only: bool, server_host: str, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.loopback_only = loopback_only
        self.hosts = HostPolicy(server_host, allowed_hosts)

    def check_request(self, request: Request) -> None:
        """Refuse remote clients (when required) and Host headers not naming this server."""
        if self.loopback_only and not is_local_request(request.scope):
            raise Refused(
                403,
                "The console is served to loopback clients only while the server requires"
                " credentials: it has no login of its own. Open it on the server's machine"
                " as http://localhost:PORT (or through an SSH tunnel to 127.0.0.1), not"
                " through a proxy.",
            )
        # The server's own policy (with its --allowed-host names) when the app set one.
        hosts = request.scope.get(SCOPE_KEY)
        if not isinstance(hosts, HostPolicy):
            hosts = self.hosts
        try:
            hosts.check_host(request.headers.get("host"))
        except ApiError as exc:
            raise Refused(exc.status, exc.message) from None

    @staticmethod
    def token(request: Request) -> tuple[str, bool]:
        """The session's CSRF token and whether it is new (to be set as the cookie)."""
        current = request.cookies.get(COOKIE, "")
        if _TOKEN_RE.match(current):
            return current, False
        return secrets.token_urlsafe(32), True

    @staticmethod
    def check_origin(request: Request) -> None:
        """Refuse a POST whose Origin (or Referer) is not this server."""
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        origin = request.headers.get("origin")
        if origin is not None:
            try:
                HostPolicy.check_origin(origin, request.headers.get("host", ""))
            except ApiError as exc:
                raise Refused(403, exc.message) from None
            return
        referer = request.headers.get("referer")
        if referer is None:
            raise Refused(403, "Cross-site request refused: no Origin or Referer header.")
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}" != own:
            raise Refused(403, "Cross-site request refused: the Referer is another site.")

    @staticmethod
    def check_token(request: Request, submitted: str | None) -> None:
        """Compare the submitted token with the cookie's, in constant time."""
        cookie = request.cookies.get(COOKIE, "")
        given = submitted or request.headers.get(HEADER, "")
        if not _TOKEN_RE.match(cookie) or not hmac.compare_digest(cookie.encode(), given.encode()):
            raise Refused(
                403,
                "Cross-site request refused: the form's token does not match this browser"
                " session (reload the page and try again).",
            )

    @staticmethod
    def finish(response: Response, token: str, new: bool, *, policy: str = PAGE_POLICY) -> Response:
        """Add the security headers (and the token cookie when it is new)."""
        contain(response.headers, policy)
        if new:
            response.set_cookie(COOKIE, token, path="/console", httponly=True, samesite="strict")
        return response


def contain(headers: MutableHeaders, policy: str = PAGE_POLICY) -> None:
    """Set the security headers every console response carries."""
    headers["Content-Security-Policy"] = policy
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")
    if policy == PAGE_POLICY:
        headers["X-Frame-Options"] = "DENY"


class Contained:
    """An ASGI app whose every response carries the security headers: the console's
    router answers some requests itself (a redirect to the path with or without its
    trailing slash, 405 for another method), and an error past the pages' own handling
    is a 500 here, not the server's bare one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_contained(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:  # a page's own stays
                    contain(headers)
            await send(message)

        try:
            await self.app(scope, receive, send_contained)
        except HTTPException as exc:  # the router's 405 (with its Allow header)
            if started:
                raise
            answer = PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
            await answer(scope, receive, send_contained)
        except Exception:
            if started:
                raise
            log.exception("console error on %s", scope.get("path"))
            message = "Internal error in the console; the server log has the details."
            await PlainTextResponse(message, 500)(scope, receive, send_contained)
