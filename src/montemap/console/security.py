"""Who may use the console, and how its state-changing requests are protected.

- **Clients.** When the server checks credentials (it listens beyond
  loopback), the console, which has no login of its own, answers only
  loopback clients; others get 403 with the reason.
- **Host header.** Only ``localhost``, IP literals and the server's own
  ``--host`` are accepted, so a hostile site that rebinds its DNS name to
  127.0.0.1 cannot reach the console through the browser.
- **Cross-site requests.** Every POST carries the per-session token from the
  ``montemap_console_csrf`` cookie (SameSite=Strict, HttpOnly) in a hidden
  ``csrf_token`` field or an ``X-CSRF-Token`` header, compared in constant
  time, and its ``Origin`` (or, without one, ``Referer``) must be this server.
- **Responses** carry a strict Content-Security-Policy (scripts and styles
  only from ``/console/static``), ``nosniff`` and no framing.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

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


class Refused(Exception):
    """A request the console will not serve: an HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8083`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header


class Guard:
    """Applies the rules above to console requests."""

    def __init__(self, *, loopback_only: bool, server_host: str) -> None:
        self.loopback_only = loopback_only
        self.server_host = server_host.strip("[]").lower()

    def check_request(self, request: Request) -> None:
        """Refuse remote clients (when required) and unexpected Host headers."""
        client = request.client.host if request.client else None
        if self.loopback_only and not _is_loopback(client):
            raise Refused(
                403,
                "The console is served to loopback clients only while the server requires"
                " credentials: it has no login of its own. Open it on the server's machine"
                " (or through an SSH tunnel to 127.0.0.1).",
            )
        name = _hostname(request.headers.get("host", "")).lower()
        if name in ("localhost", self.server_host):
            return
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise Refused(
                421,
                f"Host {name!r} is not this console's: use localhost, an IP address or the"
                " server's --host name.",
            )

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
            if origin != own:
                raise Refused(403, f"Cross-site request refused: Origin {origin!r} is not {own!r}.")
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
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        if policy == PAGE_POLICY:
            response.headers["X-Frame-Options"] = "DENY"
        if new:
            response.set_cookie(COOKIE, token, path="/console", httponly=True, samesite="strict")
        return response
