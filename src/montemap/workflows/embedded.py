"""An embedded montemap server: the whole server in a background thread of this process.

``montemap run`` uses it when no ``--server`` is given; everything else talks
to it over HTTP with boto3, exactly as to a separate server.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from pathlib import Path

import uvicorn

from montemap.api.httpserver import HttpLimits, server_config
from montemap.assembly import Montemap, Settings
from montemap.errors import MontemapError


class EmbeddedServerError(MontemapError):
    """The embedded server did not start (or stop) as it should."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedServer:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, cgroups: bool = True) -> None:
        self.port = port or free_port()
        self.montemap = Montemap(Settings(data_dir=data_dir, port=self.port, cgroups=cgroups))
        config = server_config(
            self.montemap.app,
            host="127.0.0.1",
            port=self.port,
            limits=HttpLimits(),
            log_level="warning",
            shutdown_timeout=2,
        )
        self.server = uvicorn.Server(config)
        # uvicorn installs signal handlers only in the main thread: Ctrl-C stays ours.
        self.thread = threading.Thread(target=self.server.run, name="montemap-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise EmbeddedServerError("the embedded server stopped during startup")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise EmbeddedServerError(f"the embedded server did not answer within {timeout} s")

    def stop(self, timeout: float = 60.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.montemap.close()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
