"""A loopback HTTP/1.1 server that answers each request as the test scripts it.

For what ``montemap server`` never does on purpose: 5xx answers, non-JSON
bodies, closing a kept-alive connection under a request, never answering.
Each accepted connection is served in its own thread; every request's
method, path, headers and body are recorded. :func:`scripted` gives a
server and a client of it for the length of a ``with`` block.
"""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar


@dataclass(frozen=True)
class Reply:
    """Answer with this status, body and headers (``close``: then close the connection);
    ``raw``: send these bytes as they are instead."""

    status: int = 200
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/x-amz-json-1.0"),)
    close: bool = False
    raw: bytes | None = None


#: Close the connection without answering.
HANG_UP = "hang up"
#: Never answer (until the server stops).
SILENCE = "silence"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int


@dataclass
class ScriptedServer:
    script: queue.Queue[Reply | str] = field(default_factory=queue.Queue)
    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0
    #: serve HTTPS with this context
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def then(self, *steps: Reply | str) -> ScriptedServer:
        for step in steps:
            self.script.put(step)
        return self

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in list(self._sockets):
            sock.close()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except OSError:  # the client refused the certificate
                    sock.close()
                    continue
            self.connections += 1
            self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        reader = sock.makefile("rb")
        try:
            while True:
                request = _read_request(reader, number)
                if request is None:
                    return
                self.requests.append(request)
                step = self.script.get(timeout=30)
                if step == SILENCE:
                    self._stop.wait()
                    return
                if step == HANG_UP or not isinstance(step, Reply):
                    return
                sock.sendall(step.raw if step.raw is not None else _response(step))
                if step.close:
                    return
        except (OSError, queue.Empty):
            return
        finally:
            reader.close()
            sock.close()


def server_tls(certificate: Path) -> ssl.SSLContext:
    """The TLS context of a scripted server presenting ``certificate`` (key included)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate)
    return context


class _Client(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Client)


@contextmanager
def scripted(
    connect: Callable[[str], C], *steps: Reply | str, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[ScriptedServer, C]]:
    """A server answering ``steps`` in order and ``connect(its url)``; both closed after."""
    with ScriptedServer(tls=tls).then(*steps) as server:
        client = connect(server.url)
        try:
            yield server, client
        finally:
            client.close()


def _read_request(reader: IO[bytes], number: int) -> Recorded | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline().decode("latin-1").strip()
        if not raw:
            break
        name, _, value = raw.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return Recorded(method, path, headers, body, number)


def _response(reply: Reply) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} X"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    lines.append(f"Content-Length: {len(reply.body)}")
    if reply.close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
