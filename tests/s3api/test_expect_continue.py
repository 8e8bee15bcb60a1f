"""``Expect: 100-continue`` (botocore sends it with every PutObject) against a real server."""

from __future__ import annotations

import socket
from typing import Any

from montemap.testing import MontemapServer


def _read_until(sock: socket.socket, marker: bytes, buffer: bytes = b"") -> tuple[bytes, bytes]:
    while marker not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}; got {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(marker)
    return head, rest


def test_100_continue_comes_before_the_body_is_sent(
    s3_server: MontemapServer, s3: Any, bucket: str
) -> None:
    host, port = s3_server.url.removeprefix("http://").split(":")
    body = b'{"pd": 0.01}'
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for number in range(2):  # twice on one connection: the second request too
            sock.sendall(
                f"PUT /{bucket}/result-{number}.json HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
            )
            interim, rest = _read_until(sock, b"\r\n\r\n")  # nothing sent but headers yet
            assert interim == b"HTTP/1.1 100 Continue"
            assert rest == b""
            sock.sendall(body)
            final, _ = _read_until(sock, b"\r\n\r\n", rest)
            assert final.startswith(b"HTTP/1.1 200"), final
            assert b"100 Continue" not in final  # sent once, not again by the server
    for number in range(2):
        got = s3.get_object(Bucket=bucket, Key=f"result-{number}.json")
        assert got["Body"].read() == body
