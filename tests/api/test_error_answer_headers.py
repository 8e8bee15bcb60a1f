"""Every error answer of every service on the endpoint is contained, not only the
Host/Origin policy's refusals.

A browser-marked request for an action that starts processes (ECS
RegisterTaskDefinition, Lambda CreateFunction, CloudFormation CreateStack, a
state machine reaching them) is refused by the service's own error path, and any
error may answer a request a page of another site made: each must leave with
``nosniff`` and ``no-store`` (and a sandboxing policy unless it has its own), in
whichever shape (JSON, XML, HTML, plain text) the part that made it answers.
Shown on a real server, whose answers pass through every layer they would in use.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from montemap.testing.server import MontemapServer

ECS = "AmazonEC2ContainerServiceV20141113."
ORIGIN = "Origin"
MACHINE = {
    "StartAt": "Register",
    "States": {
        "Register": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ecs:registerTaskDefinition",
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    served = MontemapServer(tmp_path_factory.mktemp("error-headers") / "data")
    served.start()
    yield served
    served.close()


def _json(target: str, body: object, content_type: str) -> tuple[str, str, bytes, dict[str, str]]:
    headers = {"X-Amz-Target": target, "Content-Type": content_type}
    return "POST", "/", json.dumps(body).encode(), headers


def _form(body: str) -> tuple[str, str, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return "POST", "/", body.encode(), headers


JSON10 = "application/x-amz-json-1.0"
JSON11 = "application/x-amz-json-1.1"
BROWSER_REFUSALS = {
    "ecs RegisterTaskDefinition": _json(f"{ECS}RegisterTaskDefinition", {}, JSON11),
    "ecs RunTask": _json(f"{ECS}RunTask", {"taskDefinition": "small"}, JSON11),
    "lambda CreateFunction": (
        "POST",
        "/2015-03-31/functions",
        b'{"FunctionName": "f", "Runtime": "python3.12", "Handler": "a.b", "Code": {}}',
        {"Content-Type": "application/json"},
    ),
    "cloudformation CreateStack": _form(
        "Action=CreateStack&Version=2010-05-15&StackName=s&TemplateBody=%7B%7D"
    ),
    "states CreateStateMachine reaching ECS": _json(
        "AWSStepFunctions.CreateStateMachine",
        {
            "name": "reach",
            "definition": json.dumps(MACHINE),
            "roleArn": "arn:aws:iam::123456789012:role/r",
        },
        JSON10,
    ),
}
OTHER_ERRORS = {
    "states unknown action": _json("AWSStepFunctions.NoSuchAction", {}, JSON10),
    "ecs unknown action": _json(f"{ECS}NoSuchAction", {}, JSON11),
    "ecs missing cluster": _json(
        f"{ECS}DescribeServices", {"cluster": "no", "services": []}, JSON11
    ),
    "s3 missing bucket": ("GET", "/no-such-bucket/key.html", b"", {}),
    "lambda missing function": ("GET", "/2015-03-31/functions/no-such-function", b"", {}),
    "cloudformation missing stack": _form("Action=DescribeStacks&Version=2010-05-15&StackName=no"),
    "iam missing role": _form("Action=GetRole&Version=2010-05-08&RoleName=no"),
    "sts unknown action": _form("Action=NoSuchAction&Version=2011-06-15"),
    "health wrong method": ("DELETE", "/health", b"", {}),
    "console missing page": ("GET", "/console/no-such-page", b"", {}),
}


def _ask(
    server: MontemapServer, request: tuple[str, str, bytes, dict[str, str]], *, browser: bool
) -> http.client.HTTPResponse:
    method, path, body, headers = request
    headers = dict(headers)
    if browser:  # the server's own origin: only the browser mark is refused
        headers[ORIGIN] = server.url
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request(method, path, body=body or None, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _assert_contained(response: http.client.HTTPResponse) -> None:
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Cache-Control") == "no-store"
    policy = response.getheader("Content-Security-Policy") or ""
    assert "default-src 'none'" in policy
    assert "sandbox" in policy or "frame-ancestors 'none'" in policy  # the console's own


@pytest.mark.parametrize("name", sorted(BROWSER_REFUSALS))
def test_a_browser_refusal_of_a_process_starting_action_is_contained(
    server: MontemapServer, name: str
) -> None:
    response = _ask(server, BROWSER_REFUSALS[name], browser=True)
    assert response.status == 403, name
    _assert_contained(response)
    assert "sandbox" in (response.getheader("Content-Security-Policy") or "")


@pytest.mark.parametrize("name", sorted(OTHER_ERRORS))
def test_every_service_error_answer_is_contained(server: MontemapServer, name: str) -> None:
    response = _ask(server, OTHER_ERRORS[name], browser=False)
    assert response.status >= 400, name
    _assert_contained(response)


def test_a_success_keeps_its_own_headers(server: MontemapServer) -> None:
    response = _ask(server, ("GET", "/health", b"", {}), browser=False)
    assert response.status == 200
    assert response.getheader("Cache-Control") is None


def test_the_console_error_page_keeps_its_own_policy(server: MontemapServer) -> None:
    response = _ask(server, OTHER_ERRORS["console missing page"], browser=False)
    policy = response.getheader("Content-Security-Policy") or ""
    assert "script-src 'self'" in policy and "sandbox" not in policy
    assert len(response.headers.get_all("Content-Security-Policy") or []) == 1


def test_a_service_error_has_one_of_each_header(server: MontemapServer) -> None:
    response = _ask(server, OTHER_ERRORS["s3 missing bucket"], browser=False)
    for name in ("X-Content-Type-Options", "Cache-Control", "Content-Security-Policy"):
        assert len(response.headers.get_all(name) or []) == 1, name
