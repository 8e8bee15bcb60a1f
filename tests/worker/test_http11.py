"""The worker's HTTP/1.1 connection reads every framing an endpoint or proxy may use."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, SSLError

from montemap.testing import REGION
from montemap.worker.client import is_transient
from montemap.worker.sfn_config import StaticCredentials
from montemap.worker.sfn_http import SfnHttpClient
from montemap.worker.sfn_signing import FrozenCredentials

from .scripted_server import Reply, ScriptedServer

JSON = b"Content-Type: application/x-amz-json-1.0\r\n"


def client_for(server: ScriptedServer) -> SfnHttpClient:
    credentials = StaticCredentials(FrozenCredentials("AKID", "secret-secret-secret"))
    return SfnHttpClient(endpoint_url=server.url, region=REGION, credentials=credentials)


@pytest.mark.parametrize(
    ("raw", "reused"),
    [
        (b"HTTP/1.1 200 OK\r\n" + JSON + b"Content-Length: 8\r\n\r\n" + b'{"a": 1}', True),
        (b"HTTP/1.1 200\r\n" + JSON + b"Content-Length: 8\r\n\r\n" + b'{"a": 1}', True),
        (
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{"a\r\n5\r\n": 1}\r\n0\r\nX-Trailer: t\r\n\r\n',
            True,
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"
            + b'{"a": 1}',
            True,
        ),
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 8\r\n\r\n" + b'{"a": 1}',
            False,
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 8\r\n\r\n" + b'{"a": 1}', False),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 8\r\n\r\n" + b'{"a": 1}',
            True,
        ),
    ],
)
def test_response_framings(raw: bytes, reused: bool) -> None:
    server = ScriptedServer().then(Reply(raw=raw), Reply(body=b'{"b": 2}'))
    client = client_for(server)
    try:
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1
        assert client.send_task_heartbeat(taskToken="t")["b"] == 2
        connections = [r.connection for r in server.requests]
        assert connections == ([1, 1] if reused else [1, 2])
    finally:
        client.close()
        server.close()


def test_a_body_ended_by_closing_the_connection() -> None:
    server = ScriptedServer().then(Reply(raw=b"HTTP/1.1 200 OK\r\n\r\n" + b'{"a": 1}', close=True))
    client = client_for(server)
    try:
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}",  # cut off
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",  # closed in the headers
    ],
)
def test_broken_responses_are_closed_connections(raw: bytes) -> None:
    server = ScriptedServer().then(Reply(raw=raw, close=True))
    client = client_for(server)
    try:
        with pytest.raises(ConnectionClosedError) as closed:
            client.send_task_heartbeat(taskToken="t")
        assert is_transient(closed.value)
    finally:
        client.close()
        server.close()


def test_request_head_and_body() -> None:
    server = ScriptedServer().then(Reply(status=400, body=b'{"__type": "InvalidToken"}'))
    client = client_for(server)
    try:
        with pytest.raises(ClientError):
            client.send_task_failure(taskToken="t", error="E", cause="c é")
        request = server.requests[0]
        assert (request.method, request.path) == ("POST", "/")
        assert request.headers["host"] == f"127.0.0.1:{server.port}"
        assert request.headers["x-amz-target"] == "AWSStepFunctions.SendTaskFailure"
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
        assert int(request.headers["content-length"]) == len(request.body)
        assert request.body == b'{"taskToken": "t", "error": "E", "cause": "c \\u00e9"}'
    finally:
        client.close()
        server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 (key and certificate in one PEM file)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(path), "-out", str(path)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return path


def tls_server(certificate: Path) -> ScriptedServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate)
    return ScriptedServer(tls=context)


def test_https_with_a_ca_bundle(certificate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate))
    server = tls_server(certificate).then(Reply(body=b'{"a": 1}'), Reply(body=b'{"a": 2}'))
    client = client_for(server)
    try:
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1
        assert client.send_task_heartbeat(taskToken="t")["a"] == 2
        assert [r.connection for r in server.requests] == [1, 1]
        assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"
    finally:
        client.close()
        server.close()


def test_an_untrusted_certificate_is_botocores_ssl_error(
    certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    server = tls_server(certificate)
    client = client_for(server)
    try:
        with pytest.raises(SSLError, match="SSL validation failed"):
            client.send_task_heartbeat(taskToken="t")
        assert server.requests == []
    finally:
        client.close()
        server.close()
