"""Finding 1: a web page must not run commands through the server (DNS rebinding, cross-site).

Before: the API never looked at ``Host``. A page whose DNS name was rebound
to 127.0.0.1 (``Host: attacker.example:PORT``) registered an ECS task
definition running ``/bin/sh -c ...`` and created a service for it: the
command ran. Now every entry point refuses a Host that is not the server's,
a foreign ``Origin`` is refused, and process-starting actions refuse any
browser request at all.
"""

from __future__ import annotations

import http.client
import json
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import MontemapServer, eventually

ECS = "AmazonEC2ContainerServiceV20141113."


def _request(
    server: MontemapServer,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, str]:
    """One raw HTTP request with exactly these headers (``Host`` included)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _ecs(
    server: MontemapServer, action: str, params: dict[str, Any], **headers: str
) -> tuple[int, str]:
    all_headers = {
        "Host": f"127.0.0.1:{server.port}",
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": ECS + action,
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    return _request(server, "POST", "/", all_headers, json.dumps(params).encode())


def _touching(family: str, marker: Path) -> dict[str, Any]:
    script = f"touch {shlex.quote(str(marker))} && exec sleep 600"
    command = ["/bin/sh", "-c", script]
    return {
        "family": family,
        "containerDefinitions": [{"name": "main", "image": "none", "command": command}],
    }


def _service(family: str) -> dict[str, Any]:
    return {
        "cluster": "default",
        "serviceName": family,
        "taskDefinition": family,
        "desiredCount": 1,
    }


@pytest.fixture
def ecs(montemap_server: MontemapServer) -> Iterator[Any]:
    client = montemap_server.client("ecs")
    yield client
    for service in client.list_services(cluster="default")["serviceArns"]:
        client.update_service(cluster="default", service=service, desiredCount=0)
    client.close()


def _proves_commands_run(ecs: Any, family: str, marker: Path) -> None:
    """The same command through boto3 runs: a refused one had the time to run and did not."""
    ecs.register_task_definition(**_touching(family, marker))
    ecs.create_service(**_service(family))
    eventually(marker.exists, timeout=60, what=f"{marker} created by the trusted service")


def test_a_rebound_page_cannot_run_a_command(
    montemap_server: MontemapServer, ecs: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "rebound-page-was-here"
    rebound = f"attacker.example:{montemap_server.port}"
    for headers in ({"Host": rebound}, {"Host": rebound, "Origin": f"http://{rebound}"}):
        status, body = _ecs(
            montemap_server, "RegisterTaskDefinition", _touching("evil", marker), **headers
        )
        assert status == 421, body
        error = json.loads(body)
        assert error["__type"].endswith("AccessDeniedException")
        assert "'attacker.example'" in error["message"] and "--allowed-host" in error["message"]
        status, body = _ecs(montemap_server, "CreateService", _service("evil"), **headers)
        assert status == 421, body

    _proves_commands_run(ecs, "trusted", tmp_path / "trusted-ran")
    assert not marker.exists()
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.describe_task_definition(taskDefinition="evil")


def test_browser_requests_cannot_start_processes_even_with_the_right_host(
    montemap_server: MontemapServer, ecs: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "cross-site-page-was-here"
    own = f"http://127.0.0.1:{montemap_server.port}"
    cases: list[dict[str, str]] = [
        {"Origin": "http://attacker.example"},  # a cross-site page, no rebinding
        {"Origin": "null"},  # a sandboxed frame
        {"Origin": own},  # even a page of the server itself
        {"Sec_Fetch_Site": "same-origin", "Sec_Fetch_Mode": "cors"},  # no Origin, still a browser
    ]
    for headers in cases:
        for action, params in (
            ("RegisterTaskDefinition", _touching("evil", marker)),
            ("CreateService", _service("trusted")),
            ("UpdateService", {"cluster": "default", "service": "x", "desiredCount": 1}),
            ("RunTask", {"cluster": "default", "taskDefinition": "evil"}),
        ):
            status, body = _ecs(montemap_server, action, params, **headers)
            assert status == 403, (headers, action, body)
            assert "AccessDeniedException" in json.loads(body)["__type"]
    _proves_commands_run(ecs, "trusted", tmp_path / "trusted-ran")
    assert not marker.exists()
    # Reading is not starting anything: a same-origin page may list services.
    status, body = _ecs(montemap_server, "ListServices", {"cluster": "default"}, Origin=own)
    assert status == 200, body


def _entry_points(port: int) -> list[tuple[str, str, dict[str, str], bytes]]:
    sfn = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.ListActivities",
    }
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        ("POST", "/", sfn, b"{}"),
        ("GET", "/health", {}, b""),
        ("GET", "/metrics", {}, b""),
        ("GET", "/console/", {}, b""),
        ("POST", "/console/start", form, b"arn=x"),
        ("GET", "/some-bucket/some-key", {}, b""),  # S3, path style
        ("GET", "/2015-03-31/functions/", {}, b""),  # Lambda
        ("POST", "/", form, b"Action=ListStacks&Version=2010-05-15"),  # CloudFormation
    ]


@pytest.mark.parametrize("name", ["attacker.example", "localhost.attacker.example", "192.0.2.1"])
def test_every_entry_point_refuses_a_foreign_host(
    montemap_server: MontemapServer, name: str
) -> None:
    port = montemap_server.port
    for method, path, headers, body in _entry_points(port):
        status, text = _request(
            montemap_server, method, path, {**headers, "Host": f"{name}:{port}"}, body
        )
        assert status == 421, (method, path, text)
        assert name in text and "AccessDenied" in text, (method, path, text)


def test_every_entry_point_refuses_a_foreign_origin(montemap_server: MontemapServer) -> None:
    port = montemap_server.port
    for method, path, headers, body in _entry_points(port):
        foreign = {**headers, "Host": f"localhost:{port}", "Origin": "http://attacker.example"}
        status, text = _request(montemap_server, method, path, foreign, body)
        assert status == 403, (method, path, text)
        assert "Cross-site request refused" in text, (method, path, text)


def test_loopback_names_keep_working(montemap_server: MontemapServer) -> None:
    port = montemap_server.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}"):
        status, text = _request(montemap_server, "GET", "/health", {"Host": host})
        assert status == 200, (host, text)
    status, _ = _request(
        montemap_server,
        "GET",
        "/console/",
        {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
    )
    assert status == 200


def test_allowed_host_names_are_answered(server_factory: Callable[..., MontemapServer]) -> None:
    server = server_factory(extra_args=["--allowed-host", "montemap.test"])
    port = server.port
    assert _request(server, "GET", "/health", {"Host": f"montemap.test:{port}"})[0] == 200
    status, text = _request(server, "GET", "/console/", {"Host": f"montemap.test:{port}"})
    assert status == 200, text
    assert _request(server, "GET", "/health", {"Host": f"other.test:{port}"})[0] == 421
