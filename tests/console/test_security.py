"""Who may use the console and how its actions are protected (real server, real HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from montemap.console.security import COOKIE, Guard, Refused
from montemap.testing import MontemapServer
from tests.console.helpers import SLOW_JOB, Http, create_machine


@pytest.fixture(scope="module")
def machine(sfn: Any) -> str:
    return create_machine(sfn, "security-slow", SLOW_JOB)


def test_pages_set_a_strict_session_cookie_and_headers(http: Http) -> None:
    reply = http.get("/console/")
    assert reply.status == 200
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert http.get("/console/").headers.get("set-cookie") is None  # kept for the session


def test_root_redirects_and_the_api_still_answers_post(
    console_server: MontemapServer, sfn: Any, http: Http
) -> None:
    reply = http.get("/")
    assert reply.status == 307 and reply.headers["location"] == "/console/"
    assert isinstance(sfn.list_state_machines()["stateMachines"], list)


def test_start_needs_the_session_token(http: Http, sfn: Any, machine: str) -> None:
    form = {"arn": machine, "input": "{}", "name": "never"}
    missing = http.post("/console/start", form, token=None)
    assert missing.status == 403 and "token" in missing.body
    wrong = http.post("/console/start", form, token="A" * 43)
    assert wrong.status == 403
    other = Http(http.base)  # another browser's valid token
    assert http.post("/console/start", form, token=other.token()).status == 403
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_start_needs_a_same_origin_request(http: Http, sfn: Any, machine: str) -> None:
    form = {"arn": machine, "input": "{}", "name": "never2"}
    assert http.post("/console/start", form, origin="http://evil.example").status == 403
    assert http.post("/console/start", form, origin="null").status == 403
    assert http.post("/console/start", form, origin=None).status == 403
    referer = {"Referer": "http://evil.example/console/"}
    assert http.post("/console/start", form, origin=None, headers=referer).status == 403
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    same = {"Referer": f"{http.base}/console/"}
    reply = http.post("/console/start", form, origin=None, headers=same)
    assert reply.status == 303
    arn = sfn.list_executions(stateMachineArn=machine)["executions"][0]["executionArn"]
    assert http.post("/console/stop", {"arn": arn}).status == 303


def test_foreign_host_names_are_refused(http: Http) -> None:
    reply = http.request("GET", "/console/", headers={"Host": "evil.example"})
    assert reply.status == 421 and "evil.example" in reply.body
    assert http.request("GET", "/console/", headers={"Host": "localhost:1"}).status == 200


def test_forms_must_be_urlencoded_and_small(http: Http) -> None:
    token = http.token()
    reply = http.request(
        "POST",
        "/console/start",
        data=b'{"csrf_token": "x"}',
        headers={"Content-Type": "application/json", "Origin": http.base},
    )
    assert reply.status == 415
    big = f"csrf_token={token}&input=".encode() + b"x" * (3 * 1024 * 1024)
    reply = http.request(
        "POST",
        "/console/start",
        data=big,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": http.base},
    )
    assert reply.status == 413


def _request(client: str, host: str = "127.0.0.1:8083") -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/console/",
        "headers": [(b"host", host.encode())],
        "client": (client, 5000),
        "query_string": b"",
    }
    return Request(scope)


def test_remote_clients_are_refused_when_credentials_are_required() -> None:
    guard = Guard(loopback_only=True, server_host="0.0.0.0")
    guard.check_request(_request("127.0.0.1"))
    guard.check_request(_request("::1", "[::1]:8083"))
    with pytest.raises(Refused) as refused:
        guard.check_request(_request("192.0.2.7", "192.0.2.1:8083"))
    assert refused.value.status == 403 and "loopback" in refused.value.reason
    open_guard = Guard(loopback_only=False, server_host="build-box")
    open_guard.check_request(_request("192.0.2.7", "build-box:8083"))
    with pytest.raises(Refused):
        open_guard.check_request(_request("192.0.2.7", "rebound.example:8083"))
