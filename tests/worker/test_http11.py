"""The worker's HTTP/1.1 connection reads every framing an endpoint or proxy may use."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, SSLError

from montemap.testing import REGION
from montemap.worker.client import is_transient
from montemap.worker.sfn_config import StaticCredentials
from montemap.worker.sfn_http import SfnHttpClient
from montemap.worker.sfn_signing import FrozenCredentials

from .scripted_server import SILENCE, Reply, scripted, server_tls

JSON = b"Content-Type: application/x-amz-json-1.0\r\n"


def client_for(url: str) -> SfnHttpClient:
    credentials = StaticCredentials(FrozenCredentials("AKID", "secret-secret-secret"))
    return SfnHttpClient(endpoint_url=url, region=REGION, credentials=credentials)


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
    with scripted(client_for, Reply(raw=raw), Reply(body=b'{"b": 2}')) as (server, client):
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1
        assert client.send_task_heartbeat(taskToken="t")["b"] == 2
        connections = [r.connection for r in server.requests]
        assert connections == ([1, 1] if reused else [1, 2])


def test_a_body_ended_by_closing_the_connection() -> None:
    reply = Reply(raw=b"HTTP/1.1 200 OK\r\n\r\n" + b'{"a": 1}', close=True)
    with scripted(client_for, reply) as (_, client):
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1


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
    with scripted(client_for, Reply(raw=raw, close=True)) as (_, client):
        with pytest.raises(ConnectionClosedError) as closed:
            client.send_task_heartbeat(taskToken="t")
        assert is_transient(closed.value)


def test_request_head_and_body() -> None:
    reply = Reply(status=400, body=b'{"__type": "InvalidToken"}')
    with scripted(client_for, reply) as (server, client):
        with pytest.raises(ClientError):
            client.send_task_failure(taskToken="t", error="E", cause="c é")
        request = server.requests[0]
        assert (request.method, request.path) == ("POST", "/")
        assert request.headers["host"] == f"127.0.0.1:{server.port}"
        assert request.headers["x-amz-target"] == "AWSStepFunctions.SendTaskFailure"
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
        assert int(request.headers["content-length"]) == len(request.body)
        assert request.body == b'{"taskToken": "t", "error": "E", "cause": "c \\u00e9"}'


def test_https_with_a_ca_bundle(certificate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate))
    replies = Reply(body=b'{"a": 1}'), Reply(body=b'{"a": 2}')
    with scripted(client_for, *replies, tls=server_tls(certificate)) as (server, client):
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1
        assert client.send_task_heartbeat(taskToken="t")["a"] == 2
        assert [r.connection for r in server.requests] == [1, 1]
        assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_ending_polls_closes_the_one_in_flight_and_refuses_later_ones(
    https: bool, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``end_polls`` (a stopping worker's) ends a long poll waiting on a kept-alive
    connection at once, without resending it; later polls fail at once; the other
    calls still go through."""
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate))
    tls = server_tls(certificate) if https else None
    replies = (Reply(body=b'{"a": 1}'), SILENCE, Reply(body=b'{"a": 2}'))
    with scripted(client_for, *replies, tls=tls) as (server, client):
        assert client.send_task_heartbeat(taskToken="t")["a"] == 1  # the connection, kept
        outcome: list[BaseException] = []

        def poll() -> None:
            try:
                client.get_activity_task(activityArn="a", workerName="w")
            except BaseException as exc:  # handed to the test's thread
                outcome.append(exc)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        deadline = time.monotonic() + 10
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the poll reached the server
        began = time.monotonic()
        client.end_polls()
        poller.join(10)
        assert not poller.is_alive() and time.monotonic() - began < 5
        assert isinstance(outcome[0], ConnectionClosedError) and is_transient(outcome[0])
        with pytest.raises(ConnectionClosedError):
            client.get_activity_task(activityArn="a", workerName="w")
        assert client.send_task_heartbeat(taskToken="t")["a"] == 2
        assert len(server.requests) == 3  # the poll was not sent again


def test_an_untrusted_certificate_is_botocores_ssl_error(
    certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with scripted(client_for, tls=server_tls(certificate)) as (server, client):
        with pytest.raises(SSLError, match="SSL validation failed"):
            client.send_task_heartbeat(taskToken="t")
        assert server.requests == []
