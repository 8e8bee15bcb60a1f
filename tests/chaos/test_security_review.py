"""Holes found by the adversarial review of the request edge (issue 11), each shown on a real server.

- A YAML state machine definition whose aliases nest (a "billion laughs" of
  anchors: ten references to a list of ten references to ...) is a few hundred
  bytes, but walking it expanded took time exponential in its depth, on the
  server's event loop: one ``CreateStateMachine`` froze every client for
  minutes. Now the expanded size is bounded before anything walks it.
- An S3 object stored as ``text/html`` was served as a page of the server's own
  origin, the console's: its scripts could read console pages (their CSRF
  token) and call every API that is not process-starting. Object responses
  now carry ``Content-Security-Policy: sandbox`` and ``nosniff``.
- A state machine reaches the ECS actions that start processes through its
  ``arn:aws:states:::aws-sdk:ecs:*`` Tasks, but ``CreateStateMachine`` and
  ``StartExecution`` were not among the actions refused to browsers: a
  request carrying ``Origin`` (the server's own pages, an HTML object above)
  registered a task definition running ``/bin/sh -c ...`` and a service for
  it through a machine, and the command ran. Now defining, updating, starting
  or redriving such a machine is refused to browser requests (403).
- ``UpdateFunctionConfiguration`` was not refused to browsers either, yet its
  ``Handler`` and ``Environment`` decide what a function's process runs: a
  page put ``evil.py`` in a bucket (``PutObject``), pointed a function's
  ``PYTHONPATH`` at the bucket's directory and its handler at ``evil.handler``,
  and invoked it. Now refused to browser requests like ``UpdateFunctionCode``.
- A form-encoded ``POST /`` that named no query service (no ``Version``, or an
  unknown one) had its body read to look for ``Version``, then was handed to
  the JSON dispatcher with the body already consumed: the dispatcher waited
  for a body that never came, with no timeout (the body had arrived), and the
  connection hung until the client gave up. Now it is answered at once.
- That body was read whole, before any authentication and with no limit: a
  form-encoded ``POST /`` of 300 MB made the server hold about 875 MB. It is
  now refused past 4 MiB (CloudFormation's own limit): 413, connection closed.
- S3 refused XML bodies with ``<!DOCTYPE`` by a byte search, which a UTF-16
  document passes: its internal entities were expanded (bounded only by
  expat's amplification limit). The parser now refuses any DOCTYPE itself.
- On a server with keys, the console (no login of its own) and ``/metrics``
  answer loopback clients only. Behind the reverse proxy docs/security.md
  suggests for TLS, every client is the proxy, on loopback: the console was
  open to the whole network. A request relayed by a proxy (``Forwarded``,
  ``X-Forwarded-For``, ``X-Real-IP``) or naming the server by a non-loopback
  name (an ``--allowed-host``) is not local, and is now refused there.
- A key whose one ``/``-separated segment is over 255 bytes (the file system's
  name limit) was answered ``500 InternalError``; such keys are now stored like any
  other (a hashed file name: ``storage/local_keys.py``, tested in ``tests/s3api``).
- A key with a segment starting ``.montemap-tmp-`` (the local store's
  temporary files) was stored and acknowledged, but no listing ever showed it
  (nor anything under such a "directory"). Now such segments are escaped on disk
  like every ``.montemap-`` name (``storage/local_keys.py``): stored and listed.
- A Lambda zip holding a file ``a`` and an entry ``a/b`` was answered 500
  (the unpacking's ``FileExistsError`` escaped); ``a/`` then ``a`` was a 400
  whose message showed the server's data directory. Both are now a 400
  naming the entry.
- The query protocol (CloudFormation) found each list member and structure
  by scanning every field of the request: quadratic. 20,000
  ``Parameters.member.N`` fields (1.6 MB, under the 4 MiB limit) held the
  event loop, and so every client, for minutes. Now one pass indexes them.
- A request with two ``Host`` headers was checked on the last one while the
  rest of the server reads the first; now it is refused (RFC 9112: 400).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import shlex
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer, eventually

ROLE = "arn:aws:iam::123456789012:role/r"


def _alias_bomb(depth: int) -> str:
    """A YAML definition of a few hundred bytes whose Pass state's Result expands to 10**depth."""
    lines = ["Comment: x", "StartAt: S", "States:", "  S:", "    Type: Pass", "    End: true"]
    lines.append("    Result:")
    lines.append('      l0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]')
    for i in range(1, depth):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"      l{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _health_seconds(server: MontemapServer) -> float:
    started = time.monotonic()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=110)
    try:
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    return time.monotonic() - started


def test_a_yaml_alias_bomb_definition_is_refused_at_once(montemap_server: MontemapServer) -> None:
    sfn = montemap_server.client()
    definition = _alias_bomb(8)  # 10**8 values expanded: minutes of walking before the fix
    assert len(definition) < 1000
    started = time.monotonic()
    with pytest.raises(ClientError) as caught:
        sfn.create_state_machine(name="bomb", definition=definition, roleArn=ROLE)
    assert time.monotonic() - started < 20
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidDefinition", error
    assert "INVALID_JSON_DESCRIPTION" in error["Message"], error  # the API takes JSON only
    assert _health_seconds(montemap_server) < 5
    assert sfn.list_state_machines()["stateMachines"] == []


def test_a_yaml_definition_is_refused_as_aws_refuses_it(montemap_server: MontemapServer) -> None:
    """The API takes Amazon States Language as JSON, as AWS's does; a YAML definition was
    stored and then failed every StartExecution with an internal error."""
    sfn = montemap_server.client()
    definition = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n"
    with pytest.raises(ClientError) as caught:
        sfn.create_state_machine(name="yaml", definition=definition, roleArn=ROLE)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert "INVALID_JSON_DESCRIPTION: Expecting value at line 1 column 1" in error["Message"]
    result = sfn.validate_state_machine_definition(definition=definition)
    assert result["result"] == "FAIL"
    assert [d["code"] for d in result["diagnostics"]] == ["INVALID_JSON_DESCRIPTION"]
    assert not [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "yaml"]


def _get(server: MontemapServer, path: str, headers: dict[str, str] | None = None) -> Any:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(
            "GET", path, headers={"Host": f"127.0.0.1:{server.port}", **(headers or {})}
        )
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_an_html_object_is_not_a_page_of_the_console_origin(
    montemap_server: MontemapServer,
) -> None:
    s3 = montemap_server.client("s3")
    s3.create_bucket(Bucket="pages")
    page = b"<script>fetch('/console/').then(r => r.text()).then(steal)</script>"
    s3.put_object(Bucket="pages", Key="report.html", Body=page, ContentType="text/html")
    for path in ("/pages/report.html", "/pages/report.html?response-content-type=text/html"):
        response = _get(montemap_server, path)
        assert response.status == 200
        policy = response.getheader("Content-Security-Policy") or ""
        assert "sandbox" in policy.split(";")[-1] or "sandbox" in policy, policy
        assert "default-src 'none'" in policy, policy
        assert response.getheader("X-Content-Type-Options") == "nosniff"
    # SDK clients are not affected: the object reads back unchanged.
    assert s3.get_object(Bucket="pages", Key="report.html")["Body"].read() == page


def _raw(server: MontemapServer, request: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "hosts",
    [("evil.example", "127.0.0.1"), ("127.0.0.1", "evil.example"), ("127.0.0.1", "localhost")],
)
def test_two_host_headers_are_refused(
    montemap_server: MontemapServer, hosts: tuple[str, str]
) -> None:
    first, second = hosts
    answer = _raw(
        montemap_server,
        f"GET /health HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\nConnection: close\r\n\r\n".encode(),
    )
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith((b"HTTP/1.1 400", b"HTTP/1.1 421")), answer[:300]
    assert b"Host" in answer


ECS_SDK = "arn:aws:states:::aws-sdk:ecs:"


def _commanding_machine(family: str, marker: Path) -> str:
    """A machine that registers a task definition running a command, then a service for it."""
    script = f"touch {shlex.quote(str(marker))} && exec sleep 600"
    container = {"Name": "main", "Image": "none", "Command": ["/bin/sh", "-c", script]}
    return json.dumps(
        {
            "StartAt": "Register",
            "States": {
                "Register": {
                    "Type": "Task",
                    "Resource": ECS_SDK + "registerTaskDefinition",
                    "Parameters": {"Family": family, "ContainerDefinitions": [container]},
                    "Next": "Serve",
                },
                "Serve": {
                    "Type": "Task",
                    "Resource": ECS_SDK + "createService",
                    "Parameters": {
                        "Cluster": "default",
                        "ServiceName": family,
                        "TaskDefinition": family,
                        "DesiredCount": 1,
                    },
                    "End": True,
                },
            },
        }
    )


def _sfn_raw(server: MontemapServer, action: str, params: dict[str, Any], **headers: str) -> Any:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/",
            body=json.dumps(params).encode(),
            headers={
                "Host": f"127.0.0.1:{server.port}",
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"AWSStepFunctions.{action}",
                **{name.replace("_", "-"): value for name, value in headers.items()},
            },
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture
def ecs(montemap_server: MontemapServer) -> Iterator[Any]:
    client = montemap_server.client("ecs")
    yield client
    for service in client.list_services(cluster="default")["serviceArns"]:
        client.update_service(cluster="default", service=service, desiredCount=0)
    client.close()


def test_a_browser_cannot_run_a_command_through_a_state_machine(
    montemap_server: MontemapServer, ecs: Any, tmp_path: Path
) -> None:
    sfn = montemap_server.client()
    own = f"http://127.0.0.1:{montemap_server.port}"
    marker = tmp_path / "page-was-here"
    browser = {"Origin": own, "Sec_Fetch_Site": "same-origin"}
    # Defining such a machine from a page is refused.
    status, body = _sfn_raw(
        montemap_server,
        "CreateStateMachine",
        {"name": "from-page", "definition": _commanding_machine("page", marker), "roleArn": ROLE},
        **browser,
    )
    assert status == 403, body
    assert body["__type"].endswith("AccessDeniedException"), body
    assert ECS_SDK in body["message"], body
    # A Sec-Fetch-* header alone marks a browser request too.
    status, body = _sfn_raw(
        montemap_server,
        "CreateStateMachine",
        {"name": "from-page", "definition": _commanding_machine("page", marker), "roleArn": ROLE},
        Sec_Fetch_Mode="cors",
    )
    assert status == 403, body
    # A machine a trusted client made cannot be started, updated or redriven from a page.
    trusted_marker = tmp_path / "trusted-ran"
    arn = sfn.create_state_machine(
        name="trusted", definition=_commanding_machine("trusted", trusted_marker), roleArn=ROLE
    )["stateMachineArn"]
    status, body = _sfn_raw(montemap_server, "StartExecution", {"stateMachineArn": arn}, **browser)
    assert status == 403, body
    status, body = _sfn_raw(
        montemap_server,
        "UpdateStateMachine",
        {"stateMachineArn": arn, "definition": _commanding_machine("page", marker)},
        **browser,
    )
    assert status == 403, body
    # Machines that start no process are unaffected by browser marks.
    plain = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    status, body = _sfn_raw(
        montemap_server,
        "CreateStateMachine",
        {"name": "plain", "definition": plain, "roleArn": ROLE},
        **browser,
    )
    assert status == 200, body
    status, body = _sfn_raw(
        montemap_server, "StartExecution", {"stateMachineArn": body["stateMachineArn"]}, **browser
    )
    assert status == 200, body
    # The trusted client still runs it: a refused page had the time to run and did not.
    sfn.start_execution(stateMachineArn=arn)
    eventually(trusted_marker.exists, timeout=60, what=f"{trusted_marker} created by the machine")
    assert not marker.exists()


def test_a_browser_cannot_define_a_machine_running_an_ecs_task(
    montemap_server: MontemapServer,
) -> None:
    """The ``ecs:runTask`` integration runs any command its ``Overrides`` name."""
    from montemap.api.app import ECS_RUN_TASK_RESOURCE
    from montemap.ecs.ecs_integration import RUN_TASK_PREFIX

    assert ECS_RUN_TASK_RESOURCE == RUN_TASK_PREFIX
    own = f"http://127.0.0.1:{montemap_server.port}"
    for suffix in ("", ".sync", ".waitForTaskToken"):
        override: dict[str, Any] = {"Name": "main", "Command": ["id"]}
        if suffix == ".waitForTaskToken":
            override["Environment"] = [{"Name": "TOKEN", "Value.$": "$$.Task.Token"}]
        task = {
            "Type": "Task",
            "Resource": RUN_TASK_PREFIX + suffix,
            "Parameters": {
                "Cluster": "default",
                "TaskDefinition": "worker",
                "Overrides": {"ContainerOverrides": [override]},
            },
            "End": True,
        }
        definition = json.dumps({"StartAt": "Run", "States": {"Run": task}})
        status, body = _sfn_raw(
            montemap_server,
            "CreateStateMachine",
            {
                "name": f"run-task{suffix.replace('.', '-')}",
                "definition": definition,
                "roleArn": ROLE,
            },
            Origin=own,
            Sec_Fetch_Site="same-origin",
        )
        assert status == 403, (suffix, body)
        assert RUN_TASK_PREFIX in body["message"], body


def test_a_browser_cannot_change_what_a_function_runs(
    montemap_server: MontemapServer, tmp_path: Path
) -> None:
    lam = montemap_server.client("lambda")
    s3 = montemap_server.client("s3")
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'app'\n")
    lam.create_function(
        FunctionName="victim",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": package.getvalue()},
    )
    marker = tmp_path / "page-was-here"
    s3.create_bucket(Bucket="planted")
    module = (
        f"import pathlib\ndef handler(event, context):\n    pathlib.Path({str(marker)!r}).touch()\n"
    )
    s3.put_object(Bucket="planted", Key="evil.py", Body=module.encode())
    change = {
        "Handler": "evil.handler",
        "Environment": {
            "Variables": {"PYTHONPATH": str(montemap_server.data_dir / "buckets" / "planted")}
        },
    }
    connection = http.client.HTTPConnection(montemap_server.host, montemap_server.port, timeout=30)
    try:
        connection.request(
            "PUT",
            "/2015-03-31/functions/victim/configuration",
            body=json.dumps(change).encode(),
            headers={
                "Host": f"127.0.0.1:{montemap_server.port}",
                "Origin": f"http://127.0.0.1:{montemap_server.port}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 403, body
    assert "'origin'" in body and "start processes" in body, body
    assert lam.get_function_configuration(FunctionName="victim")["Handler"] == "app.handler"
    assert lam.invoke(FunctionName="victim")["Payload"].read() == b'"app"'
    assert not marker.exists()
    # A trusted client (no browser marks) still may.
    lam.update_function_configuration(FunctionName="victim", Timeout=5)


@pytest.mark.parametrize(
    "body", [b"Action=ListStacks", b"Action=ListStacks&Version=1999-01-01", b""]
)
def test_a_form_post_for_no_known_service_is_answered_at_once(
    montemap_server: MontemapServer, body: bytes
) -> None:
    request = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{montemap_server.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((montemap_server.host, montemap_server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(65536)  # socket.timeout before the fix: no answer, ever
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 4"), answer[:300]


@pytest.mark.parametrize("declare", [True, False])
def test_a_huge_form_post_is_refused_before_it_is_read(
    montemap_server: MontemapServer, declare: bool
) -> None:
    size = 64 * 1024 * 1024
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{montemap_server.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        + (f"Content-Length: {size}\r\n" if declare else "Transfer-Encoding: chunked\r\n")
        + "\r\n"
    ).encode()
    chunk = b"a" * (1 << 20)
    if not declare:
        chunk = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection((montemap_server.host, montemap_server.port), timeout=30) as sock:
        sock.sendall(head)
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += 1 << 20
        except OSError:
            pass  # the server answered and closed: the rest was never read
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:  # the unread rest of a streamed body can reset it
            answer = b""
    assert sent < size
    if declare or answer:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert b"ValidationError" in answer and b"maximum request size" in answer
    # An ordinary CloudFormation request still goes through.
    cfn = montemap_server.client("cloudformation")
    assert cfn.list_stacks()["StackSummaries"] == []


def test_an_xml_body_in_utf16_cannot_declare_entities(montemap_server: MontemapServer) -> None:
    s3 = montemap_server.client("s3")
    s3.create_bucket(Bucket="xml-bodies")
    s3.put_object(Bucket="xml-bodies", Key="kept", Body=b"x")
    document = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE Delete [<!ENTITY k "kept">]>'
        "<Delete><Object><Key>&k;</Key></Object></Delete>"
    ).encode("utf-16")
    connection = http.client.HTTPConnection(montemap_server.host, montemap_server.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/xml-bodies?delete",
            body=document,
            headers={
                "Host": f"127.0.0.1:{montemap_server.port}",
                "Content-MD5": base64.b64encode(hashlib.md5(document).digest()).decode(),
                "Content-Type": "application/xml",
            },
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 400, body
    assert b"<Code>MalformedXML</Code>" in body
    assert s3.get_object(Bucket="xml-bodies", Key="kept")["Body"].read() == b"x"


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[MontemapServer]:
    env = {
        "MONTEMAP_ACCESS_KEY_ID": "REVIEW",
        "MONTEMAP_SECRET_ACCESS_KEY": "review-secret-0123456789",
    }
    server = MontemapServer(
        tmp_path / "data", extra_args=["--allowed-host", "build-box.example"], env=env
    )
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize("path", ["/console/", "/metrics"])
def test_a_proxied_request_is_not_a_local_one(keyed_server: MontemapServer, path: str) -> None:
    port = keyed_server.port
    local = _get(keyed_server, path)
    assert local.status == 200
    relayed: list[dict[str, str]] = [
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=203.0.113.7;proto=https"},
        {"X-Real-IP": "203.0.113.7"},
        {"Host": f"build-box.example:{port}"},  # a proxy that keeps Host, adding nothing
    ]
    for headers in relayed:
        response = _get(keyed_server, path, headers)
        assert response.status == 403, (headers, response.status)
    # An SSH tunnel (a loopback client, a loopback name, any port) still reaches it.
    assert _get(keyed_server, path, {"Host": "localhost:9000"}).status == 200


def test_a_key_named_like_a_temporary_file_is_stored_and_listed(
    montemap_server: MontemapServer,
) -> None:
    s3 = montemap_server.client("s3")
    s3.create_bucket(Bucket="hidden-keys")
    keys = [".montemap-tmp-mine", "reports/.montemap-tmp-x/2026.csv", "reports/montemap-tmp-ok"]
    for key in keys:
        s3.put_object(Bucket="hidden-keys", Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket="hidden-keys")["Contents"]
    assert [item["Key"] for item in listed] == sorted(keys)
    for key in keys:
        assert s3.get_object(Bucket="hidden-keys", Key=key)["Body"].read() == key.encode()


@pytest.mark.parametrize(
    "entries",
    [["a", "a/b"], ["a/b", "a"], ["a/", "a"]],
    ids=["file-then-dir", "dir-then-file", "dir-entry"],
)
def test_a_zip_whose_entries_collide_is_a_clear_400(
    montemap_server: MontemapServer, entries: list[str]
) -> None:
    lam = montemap_server.client("lambda")
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
        for name in entries:
            archive.writestr(zipfile.ZipInfo(name), "" if name.endswith("/") else "x")
    with pytest.raises(ClientError) as caught:
        lam.create_function(
            FunctionName="colliding",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": package.getvalue()},
        )
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, error
    assert error["Error"]["Code"] == "InvalidParameterValueException", error
    assert "'a'" in error["Error"]["Message"] or "'a/b'" in error["Error"]["Message"]
    assert str(montemap_server.data_dir) not in error["Error"]["Message"]
    names = [fn["FunctionName"] for fn in lam.list_functions()["Functions"]]
    assert "colliding" not in names


def test_many_query_list_members_are_read_in_linear_time(montemap_server: MontemapServer) -> None:
    from urllib.parse import urlencode

    fields = {"Action": "CreateStack", "Version": "2010-05-15", "StackName": "many"}
    fields["TemplateBody"] = "not a template"
    for i in range(1, 20_001):
        fields[f"Parameters.member.{i}.ParameterKey"] = f"P{i}"
        fields[f"Parameters.member.{i}.ParameterValue"] = "v"
    body = urlencode(fields).encode()
    connection = http.client.HTTPConnection(montemap_server.host, montemap_server.port, timeout=110)
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            "/",
            body=body,
            headers={
                "Host": f"127.0.0.1:{montemap_server.port}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    assert response.status == 400, answer[:300]  # the template, not the parameters
    assert time.monotonic() - started < 20
    assert _health_seconds(montemap_server) < 5
