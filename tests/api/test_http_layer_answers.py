"""The answers the HTTP layer writes itself carry what every error answer carries.

408 (headers too slow), 431 (headers too large), 503 (too many connections from a
client), the parser's 400 (a malformed request) and uvicorn's 500 (an application
that fails before it answers) are written under the application, which adds
``nosniff``, ``no-store`` and a sandboxing policy to every error it answers
(:func:`montemap.api.hosts.contain_errors`). They may answer a request a page of
another site made too: each leaves with the same headers and ``Connection: close``.
Shown with raw sockets against a real server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from montemap.api.hosts import REFUSAL_HEADERS
from montemap.api.httpserver import HttpLimits, PromptServer, server_config
from montemap.testing import MontemapServer, eventually

SOURCE = "127.0.0.5"  # the capped client; the server's own health checks use 127.0.0.1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MontemapServer]:
    served = MontemapServer(
        tmp_path_factory.mktemp("http-layer") / "data",
        extra_args=["--header-timeout", "0.5", "--max-connections-per-client", "2"],
    )
    served.start()
    yield served
    served.close()


def _exchange(host: str, port: int, data: bytes, source: str = SOURCE) -> bytes:
    """What the server sends for ``data`` until it closes the connection."""
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(15)
        sock.connect((host, port))
        try:
            sock.sendall(data)
        except OSError:
            pass  # answered and closed before all of it was sent
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def _assert_contained(answer: bytes, status: bytes) -> None:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
    lines = head.split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status.decode()} "), answer[:300]
    headers = {
        name.lower(): value.strip() for name, _, value in (h.partition(":") for h in lines[1:])
    }
    for name, value in REFUSAL_HEADERS.items():
        assert headers.get(name.lower()) == value, (name, head)
    assert headers.get("connection") == "close", head
    assert headers.get("content-type") == "text/plain; charset=utf-8", head


def test_a_malformed_request_is_answered_400_contained(server: MontemapServer) -> None:
    answer = _exchange(server.host, server.port, b"NOT HTTP AT ALL\r\n\r\n")
    _assert_contained(answer, b"400")


def test_oversized_headers_are_answered_431_contained(server: MontemapServer) -> None:
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1024) for i in range(70))
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + filler + b"\r\n"
    _assert_contained(_exchange(server.host, server.port, request), b"431")


def test_headers_past_the_deadline_are_answered_408_contained(server: MontemapServer) -> None:
    answer = _exchange(server.host, server.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    _assert_contained(answer, b"408")


def test_a_connection_over_the_cap_is_answered_503_contained(server: MontemapServer) -> None:
    held = []
    try:
        for _ in range(2):  # kept open, idle after a response (no header deadline then)
            sock = socket.socket()
            sock.bind(("127.0.0.6", 0))
            sock.settimeout(15)
            sock.connect((server.host, server.port))
            held.append(sock)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while b"}" not in answer:
                chunk = sock.recv(4096)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 "), answer

        def refused() -> bytes | None:
            answer = _exchange(server.host, server.port, b"", source="127.0.0.6")
            return answer if answer.startswith(b"HTTP/1.1 503 ") else None

        answer = eventually(refused, timeout=10, what="a third connection refused")
        _assert_contained(answer, b"503")
        assert b"\r\nretry-after: 1\r\n" in answer
    finally:
        for sock in held:
            sock.close()


def _failing_app(fail: Callable[[], None]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        fail()

    return app


@pytest.mark.parametrize("raises", [True, False], ids=["raises", "never-answers"])
def test_uvicorns_500_for_a_failing_application_is_contained(raises: bool) -> None:
    def fail() -> None:
        if raises:
            raise RuntimeError("boom")

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = server_config(
        _failing_app(fail), host="127.0.0.1", port=port, limits=HttpLimits(), log_level="critical"
    )
    served = PromptServer(config)
    thread = threading.Thread(target=lambda: asyncio.run(served.serve([listener])), daemon=True)
    thread.start()
    try:
        assert served.ready.wait(10)
        request = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        _assert_contained(_exchange("127.0.0.1", port, request, source="127.0.0.1"), b"500")
    finally:
        served.stop_soon()
        thread.join(10)
        listener.close()
