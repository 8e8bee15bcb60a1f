"""Cross-site subresource requests (no ``Origin``, ``Sec-Fetch-Site: cross-site``) are refused.

A page of another site can make the browser load anything on the loopback server
as a script, a style sheet, an image or a media file, without CORS and without an
``Origin`` header: ``<script src="http://127.0.0.1:8083/bucket/config.js">`` runs a
stored object in the attacker's page, an ``<img>`` tells it the size of a stored
picture. Browsers mark such requests ``Sec-Fetch-Site: cross-site``; the server
refuses them everywhere (403), but still answers a top-level navigation (a link to
the console from another site).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from montemap.api.hosts import HostPolicy
from montemap.errors import ApiError

SUBRESOURCE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}


def _scope(method: str, headers: dict[str, str], query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/bucket/key",
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }


@pytest.mark.parametrize(
    ("method", "fetch"),
    [
        ("GET", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}),
        ("GET", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "script"}),
        ("GET", {"Sec-Fetch-Site": "CROSS-SITE", "Sec-Fetch-Mode": "cors"}),
        ("GET", {"Sec-Fetch-Site": "cross-site"}),
        ("POST", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}),
        (
            "GET",
            {
                "Sec-Fetch-Site": "cross-site",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "embed",
            },
        ),
        (
            "GET",
            {
                "Sec-Fetch-Site": "cross-site",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "object",
            },
        ),
    ],
)
def test_cross_site_subresources_are_refused(method: str, fetch: dict[str, str]) -> None:
    with pytest.raises(ApiError) as refused:
        HostPolicy("127.0.0.1").check(_scope(method, {"Host": "127.0.0.1:8083", **fetch}))
    assert refused.value.status == 403
    assert "cross-site" in refused.value.message


@pytest.mark.parametrize(
    ("method", "fetch"),
    [
        ("GET", {}),
        ("GET", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}),
        ("GET", {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}),
        ("GET", {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}),
        (
            "GET",
            {
                "Sec-Fetch-Site": "cross-site",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
            },
        ),
        ("HEAD", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}),
    ],
)
def test_other_browser_requests_pass(method: str, fetch: dict[str, str]) -> None:
    HostPolicy("127.0.0.1").check(_scope(method, {"Host": "127.0.0.1:8083", **fetch}))


@pytest.mark.parametrize(
    "referer",
    [
        "http://127.0.0.1:5173/app",
        "http://localhost:3000/",
        "http://[::1]:80/",
        "http://a.localhost/",
    ],
)
def test_pages_on_loopback_names_may_load_from_the_server(referer: str) -> None:
    """A local front end (``127.0.0.1:5173``) showing an object of ``localhost:8083``."""
    headers = {"Host": "localhost:8083", **SUBRESOURCE, "Referer": referer}
    HostPolicy("127.0.0.1").check(_scope("GET", headers))


@pytest.mark.parametrize(
    "referer",
    ["http://attacker.example/", "http://127.0.0.1.attacker.example/", "garbage", "http://[x/"],
)
def test_other_referers_do_not_help(referer: str) -> None:
    headers = {"Host": "localhost:8083", **SUBRESOURCE, "Referer": referer}
    with pytest.raises(ApiError):
        HostPolicy("127.0.0.1").check(_scope("GET", headers))


def test_presigned_urls_pass_only_where_signatures_are_checked() -> None:
    """With keys configured the service checks a presigned URL's signature; without,
    any made-up signature would be accepted, so it proves nothing."""
    headers = {"Host": "build-box.example:8083", **SUBRESOURCE}
    presigned = b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"
    keyed = HostPolicy("0.0.0.0", ["build-box.example"], keys_configured=True)
    keyed.check(_scope("GET", headers, presigned))
    with pytest.raises(ApiError):
        keyed.check(_scope("GET", headers))
    with pytest.raises(ApiError):
        HostPolicy("0.0.0.0", ["build-box.example"]).check(_scope("GET", headers, presigned))
    console = {**_scope("GET", headers, presigned), "path": "/console/api/executions"}
    with pytest.raises(ApiError):  # the console takes no signature: it proves nothing there
        keyed.check(console)


def _http(
    url: str, headers: dict[str, str], *, method: str = "GET", body: bytes | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_real_server_refuses_cross_site_loads_everywhere(
    server_factory: Callable[..., Any],
) -> None:
    server = server_factory()
    s3 = server.client("s3")
    s3.create_bucket(Bucket="fetch-metadata")
    s3.put_object(
        Bucket="fetch-metadata",
        Key="config.js",
        Body=b"var secret = 'hunter2';",
        ContentType="text/javascript",
    )
    url = f"{server.url}/fetch-metadata/config.js"
    assert _http(url, {}) == (200, b"var secret = 'hunter2';")  # boto3, curl: no marks
    same = _http(url, {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"})
    assert same[0] == 200
    status, body = _http(url, {**SUBRESOURCE, "Sec-Fetch-Dest": "script"})
    assert status == 403
    assert b"hunter2" not in body
    assert b"<Code>AccessDenied</Code>" in body  # S3's own error shape
    local_page = {**SUBRESOURCE, "Referer": "http://127.0.0.1:5173/app"}  # a local front end
    assert _http(url, local_page) == (200, b"var secret = 'hunter2';")
    for path in ("/console/api/executions?arn=x", "/metrics", "/health"):
        assert _http(f"{server.url}{path}", SUBRESOURCE)[0] == 403, path
    navigation = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
    }
    # a link to the console from another site still works
    assert _http(f"{server.url}/console/", navigation)[0] == 200
    status, body = _http(
        f"{server.url}/",
        {
            **SUBRESOURCE,
            "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "Content-Type": "application/x-amz-json-1.0",
        },
        method="POST",
        body=b"{}",
    )
    assert status == 403
    assert json.loads(body)["__type"].endswith("#AccessDeniedException")
