"""One kept-alive HTTP/1.1 client connection, for small JSON requests and answers.

``http.client`` parses every response's header block with the ``email``
package (about half of a Step Functions call's client CPU); this reads the
status line and headers with a buffered reader's ``readline`` and sends the
request head and body in one ``sendall``. It handles what a Step Functions
endpoint (or a proxy or load balancer before it) may answer: ``Content-Length``
or chunked bodies, a body ended by closing the connection, ``Connection:
close``, HTTP/1.0, and interim ``1xx`` responses (skipped).

Errors are ``OSError`` subclasses: :class:`ClosedBeforeResponse` (a
``ConnectionResetError``) when the peer closed the connection before any byte
of an answer — the caller may resend on a new connection — and
:class:`BadResponse` for a broken or cut-off answer; timeouts are the socket's
``TimeoutError``.
"""

from __future__ import annotations

import contextlib
import socket
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import ssl
import weakref

#: Longest status or header line, and most header lines, accepted (as ``http.client``).
MAX_LINE = 65536
MAX_HEADERS = 100


class ClosedBeforeResponse(ConnectionResetError):
    """The connection was closed before any byte of a response arrived."""


class BadResponse(OSError):
    """A response that is not valid HTTP/1.x, or one cut off before its end."""


def _close_both(reader: IO[bytes], sock: socket.socket) -> None:
    reader.close()
    sock.close()


class Response:
    """A whole response: status, headers (names lower-cased, in order) and body."""

    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(
        self, status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class Connection:
    """An open connection to ``host:port`` (TLS when given a context)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        read_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock: socket.socket = sock
        self._reader: IO[bytes] = sock.makefile("rb")
        # one dropped unclosed (a request in flight when its client was dropped) still
        # closes its reader, then its socket; not at exit, where a daemon thread may still
        # be reading from it (closing the reader would wait for its lock: up to a long poll)
        self._closer = weakref.finalize(self, _close_both, self._reader, sock)
        self._closer.atexit = False

    def close(self) -> None:
        self._closer()

    def abort(self) -> None:
        """End the exchange in flight on another thread now: its read finds the
        connection closed (the socket itself, TLS or not, is shut down; closing it is
        left to that thread)."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def exchange(self, head: bytes, body: bytes) -> Response:
        """Send a request (its head ends with the blank line) and read the whole answer."""
        self.sock.sendall(head + body)
        while True:
            status, version = self._status_line()
            headers = self._headers()
            if status >= 200 or status < 100:
                break  # 1xx: an interim answer; the real one follows
        fields = dict(headers)
        connection = fields.get("connection", "").lower()
        keep_alive = "close" not in connection and (
            version != "HTTP/1.0" or "keep-alive" in connection
        )
        if status in (204, 304):
            return Response(status, headers, b"", keep_alive)
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return Response(status, headers, self._chunked(), keep_alive)
        length = fields.get("content-length")
        if length is None:
            return Response(status, headers, self._reader.read(), False)  # ends with the connection
        if not length.strip().isdigit():
            raise BadResponse(f"invalid Content-Length {length!r}")
        return Response(status, headers, self._exactly(int(length)), keep_alive)

    def _line(self) -> bytes:
        line = self._reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadResponse("response line too long")
        return line

    def _status_line(self) -> tuple[int, str]:
        line = self._line()
        if not line:
            raise ClosedBeforeResponse("the connection was closed before a response")
        version, _, rest = line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadResponse(f"not an HTTP/1.x status line: {line[:80]!r}")
        return int(code), version

    def _headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        while True:
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise BadResponse("the connection was closed in the response headers")
            if len(headers) >= MAX_HEADERS:
                raise BadResponse(f"more than {MAX_HEADERS} response headers")
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers.append((name.strip().lower(), value.strip()))

    def _exactly(self, size: int) -> bytes:
        data = self._reader.read(size)
        if len(data) != size:
            raise BadResponse(f"the connection was closed after {len(data)} of {size} body bytes")
        return data

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadResponse(f"invalid chunk size {size_text[:20]!r}")
            if size == 0:
                break
            parts.append(self._exactly(size))
            self._exactly(2)  # the chunk's CRLF
        while self._line() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)
