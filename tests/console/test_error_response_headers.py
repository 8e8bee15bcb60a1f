"""Every console response carries the security headers: pages, and the answers the
router gives itself (an unknown path, another method, a slash redirect) or an error
past the pages' own handling."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from montemap.console.security import Contained
from tests.console.helpers import Http


def _assert_contained(headers: dict[str, str]) -> None:
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/console/no-such-page", "/console/api/no-such-view", "/console/static/../app.py"]
)
def test_an_unknown_console_path_is_the_consoles_404_page(http: Http, path: str) -> None:
    reply = http.get(path)
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "no page" in reply.body
    _assert_contained(reply.headers)


def test_an_unknown_path_is_shown_as_text(http: Http) -> None:
    reply = http.get("/console/%3Cscript%3Ealert(1)%3C/script%3E")
    assert reply.status == 404
    assert "<script>alert" not in reply.body and "&lt;script&gt;" in reply.body


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/console/"), ("PUT", "/console/start")])
def test_another_method_is_refused_with_the_headers(http: Http, method: str, path: str) -> None:
    reply = http.request(method, path)
    assert reply.status == 405
    assert "allow" in reply.headers
    _assert_contained(reply.headers)


@pytest.mark.parametrize(
    ("path", "location"),
    [("/console", "/console/"), ("/console/services/", "/console/services"), ("/", "/console/")],
)
def test_redirects_carry_the_headers(http: Http, path: str, location: str) -> None:
    reply = http.get(path)
    assert reply.status == 307
    assert reply.headers["location"].endswith(location)
    _assert_contained(reply.headers)


def test_an_error_past_the_pages_handling_is_a_500_with_the_headers() -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    app = Contained(Router([Route("/", broken)]))
    with TestClient(app, raise_server_exceptions=True) as client:
        reply = client.get("/")
    assert reply.status_code == 500
    assert "boom" not in reply.text
    _assert_contained({k.lower(): v for k, v in reply.headers.items()})
