"""Finding 7: slow or greedy clients cannot hold the server's connections.

Before: uvicorn's httptools protocol arms no timer on a connection until its
first response, so half-sent requests were held open indefinitely. Now the
request headers have a deadline (``--header-timeout``), a stalled body an idle
timeout (``--body-timeout``) and a client address a cap on open connections
(``--max-connections-per-client``); normal clients are served meanwhile.

The abusive connections come from other loopback addresses (127.0.0.2,
127.0.0.3) so that the cap on them does not touch the boto3 client on
127.0.0.1.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from montemap.testing import MontemapServer, ServerError, eventually

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-test"
HALF_REQUEST = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSStepFunctions.List"


def _connect(server: MontemapServer, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect((server.host, server.port))
    return sock


def _read_until_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """Everything each socket receives until the server closes it (fails at the deadline)."""
    received = {sock: b"" for sock in socks}
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    open_count = len(socks)
    while open_count:
        left = deadline - time.monotonic()
        assert left > 0, f"{open_count} of {len(socks)} connections still open after {timeout} s"
        for key, _ in selector.select(min(left, 1.0)):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                chunk = conn.recv(4096)
            except ConnectionResetError:
                chunk = b""
            received[conn] += chunk
            if not chunk:
                selector.unregister(conn)
                open_count -= 1
    selector.close()
    return received


def test_half_sent_requests_are_closed_after_the_header_timeout(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(
        extra_args=["--header-timeout", "2", "--max-connections-per-client", "1100"]
    )
    sfn = server.client()
    socks: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = _connect(server, "127.0.0.2")
            sock.sendall(HALF_REQUEST)
            socks.append(sock)
        # A normal client is served while the thousand are held.
        assert isinstance(sfn.list_state_machines()["stateMachines"], list)
        received = _read_until_closed(socks, timeout=90)
        assert all(data.startswith(b"HTTP/1.1 408 ") for data in received.values())
        assert isinstance(sfn.list_activities()["activities"], list)
    finally:
        for sock in socks:
            sock.close()
        sfn.close()


def test_silent_connections_and_stalled_bodies_are_closed(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(extra_args=["--header-timeout", "2", "--body-timeout", "2"])
    silent = _connect(server, "127.0.0.2")
    stalled = _connect(server, "127.0.0.2")
    stalled.sendall(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b'X-Amz-Target: AWSStepFunctions.ListActivities\r\nContent-Length: 100\r\n\r\n{"a'
    )
    trickle = _connect(server, "127.0.0.2")
    try:
        received = _read_until_closed([silent, stalled], timeout=60)
        assert received[silent].startswith(b"HTTP/1.1 408 ")
        assert b" 200 " not in received[stalled]
        # Trickling header bytes does not extend the deadline.
        started = time.monotonic()
        trickle.setblocking(True)
        trickle.settimeout(1)
        closed = False
        for byte in HALF_REQUEST:
            try:
                trickle.sendall(bytes([byte]))
                if trickle.recv(4096, socket.MSG_PEEK):
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed, f"a trickled request was still open after {time.monotonic() - started} s"
    finally:
        for sock in (silent, stalled, trickle):
            sock.close()


def test_oversized_headers_are_refused_with_431(montemap_server: MontemapServer) -> None:
    sock = _connect(montemap_server, "127.0.0.2")
    try:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for index in range(100):  # 100 headers of 1 KiB: past the 64 KiB cap
            try:
                sock.sendall(b"X-Filler-%d: %s\r\n" % (index, b"a" * 1024))
            except OSError:
                break  # the server has answered and closed
        received = _read_until_closed([sock], timeout=30)[sock]
        assert received.startswith(b"HTTP/1.1 431 "), received[:200]
    finally:
        sock.close()
    sfn = montemap_server.client()
    try:
        assert "activities" in sfn.list_activities()
    finally:
        sfn.close()


def test_a_long_poll_outlives_the_timeouts(server_factory: Callable[..., MontemapServer]) -> None:
    server = server_factory(extra_args=["--header-timeout", "1", "--body-timeout", "1"])
    sfn = server.client()
    activity = sfn.create_activity(name="slow-poll")["activityArn"]
    result: dict[str, Any] = {}

    def poll() -> None:
        result.update(sfn.get_activity_task(activityArn=activity, workerName="w"))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(3)  # the poll waits past both timeouts (a longer wait only makes it stronger)
    states = {"T": {"Type": "Task", "Resource": activity, "End": True}}
    definition = json.dumps({"StartAt": "T", "States": states})
    machine = sfn.create_state_machine(name="slow", definition=definition, roleArn=ROLE_ARN)
    sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 1}')
    poller.join(90)
    assert result.get("taskToken"), result
    assert json.loads(result["input"]) == {"n": 1}
    sfn.close()


def test_connections_over_the_per_client_cap_are_refused(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(
        extra_args=["--max-connections-per-client", "4", "--header-timeout", "600"]
    )
    sfn = server.client()
    held = [_connect(server, "127.0.0.3") for _ in range(4)]
    try:
        # The server counts a connection once it has accepted it: poll for the refusal.
        def refused() -> bytes:
            extra = _connect(server, "127.0.0.3")
            try:
                return _read_until_closed([extra], timeout=30)[extra]
            finally:
                extra.close()

        first = eventually(refused, timeout=30, what="a fifth connection refused")
        assert first.startswith(b"HTTP/1.1 503 ")
        for _ in range(20):
            assert refused().startswith(b"HTTP/1.1 503 ")
        assert isinstance(sfn.list_activities()["activities"], list)  # 127.0.0.1 is not capped
        lines = [line for line in server.log_text().splitlines() if "127.0.0.3 holds" in line]
        assert len(lines) == 1, lines
    finally:
        for sock in held:
            sock.close()
    # Once the client closes its connections it is served again.

    def served() -> bool:
        sock = _connect(server, "127.0.0.3")
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return _read_until_closed([sock], timeout=30)[sock].startswith(b"HTTP/1.1 200 ")
        finally:
            sock.close()

    assert eventually(served, timeout=30, what="served again")
    sfn.close()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--header-timeout", "0"), ("--body-timeout", "-1"), ("--max-connections-per-client", "0")],
)
def test_bad_limits_stop_the_server(
    server_factory: Callable[..., MontemapServer], option: str, value: str
) -> None:
    server = server_factory(start=False, extra_args=[option, value])
    with pytest.raises(ServerError, match=option):
        server.start(timeout=30)
