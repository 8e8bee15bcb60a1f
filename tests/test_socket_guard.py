"""The suite's guard (tests/conftest.py) finds an HTTP response left open on a closed socket."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import SOCKET_WATCH


class _Refuse(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"refused\n"
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_an_unclosed_http_error_is_found_until_it_is_closed(refusing_url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    assert SOCKET_WATCH.left_open() == []
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(refusing_url, timeout=30)
    assert refused.value.code == 403
    left = SOCKET_WATCH.left_open()
    assert len(left) == 1
    assert "test_socket_guard.py" in left[0]
    refused.value.close()
    assert SOCKET_WATCH.left_open() == []
