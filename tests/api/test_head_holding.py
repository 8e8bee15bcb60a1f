"""Responses leave in one write: the head joined with the body (``api/head_holding.py``)."""

from __future__ import annotations

import socket
from typing import Any

from montemap.api.head_holding import HeadHoldingTransport
from montemap.testing import MontemapServer


class RecordingTransport:
    """The connection's side of the transport: what was written, in order."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return f"extra:{name}"


class Cycle:
    def __init__(self, method: str) -> None:
        self.scope = {"method": method}
        self.response_started = False


def test_head_leaves_with_the_body_and_interim_writes_pass_through() -> None:
    inner, cycle = RecordingTransport(), Cycle("PUT")
    outer = HeadHoldingTransport(inner, cycle)  # type: ignore[arg-type]
    outer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts
    assert inner.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert len(inner.writes) == 1  # held
    outer.write(b"ok")
    assert inner.writes[1:] == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    outer.write(b"more")  # later chunks pass straight through
    assert inner.writes[2:] == [b"more"]
    assert outer.get_extra_info("peername") == "extra:peername"


def test_a_head_response_is_never_held_and_close_flushes() -> None:
    inner, cycle = RecordingTransport(), Cycle("HEAD")
    outer = HeadHoldingTransport(inner, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"]

    inner, cycle = RecordingTransport(), Cycle("GET")
    outer = HeadHoldingTransport(inner, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    outer.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    outer.close()  # the application ended without a body: the head is not lost
    assert inner.writes == [b"HTTP/1.1 500 Internal Server Error\r\n\r\n"]
    assert inner.closed and outer.is_closing()


def _exchange(sock: socket.socket, request: bytes, expect_body: bool) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the response's head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while expect_body and len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the response's body"
        body += chunk
    return head + b"\r\n\r\n" + (body if expect_body else b"")


def test_get_head_and_put_with_continue_on_one_kept_alive_connection(
    montemap_server: MontemapServer,
) -> None:
    host = f"127.0.0.1:{montemap_server.port}"
    with socket.create_connection(("127.0.0.1", montemap_server.port), timeout=30) as sock:
        put = (f"PUT /bucket-h HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n").encode()
        assert _exchange(sock, put, True).startswith(b"HTTP/1.1 200")
        body = b"hello, one send"
        sock.sendall(
            f"PUT /bucket-h/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"  # nothing else before the body
        reply = _exchange(sock, body, True)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        head = _exchange(sock, f"HEAD /bucket-h/k HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), False)
        assert head.startswith(b"HTTP/1.1 200") and f"{len(body)}".encode() in head
        got = _exchange(sock, f"GET /bucket-h/k HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), True)
        assert got.startswith(b"HTTP/1.1 200") and got.endswith(body)
