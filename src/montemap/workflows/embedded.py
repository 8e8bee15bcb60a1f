"""An embedded montemap server: the whole server in a background thread of this process.

``montemap run`` uses it when no ``--server`` is given; everything else talks
to it over HTTP with boto3, exactly as to a separate server.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
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

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        cgroups: bool = True,
        warm_functions: Iterable[str] = (),
    ) -> None:
        """``warm_functions``: modules to import in the functions' first process, started
        now (:meth:`montemap.engine.lambdas.FunctionRegistry.warm`); none: started on the
        first function call."""
        self.port = port or free_port()
        self.montemap = Montemap(Settings(data_dir=data_dir, port=self.port, cgroups=cgroups))
        modules = tuple(warm_functions)
        self.functions_warm: Future[int] | None = None
        if modules:
            self.functions_warm = self.montemap.functions.warm(modules)
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

    @contextmanager
    def history_signal(self, execution_arn: str) -> Iterator[threading.Event]:
        """An event set each time the execution's history grows, its end included: one
        who polls the execution through the API can wait on it instead of sleeping, and
        see the end as soon as it is recorded (the status is saved with the end event)."""
        signal = threading.Event()

        def listener(arn: str) -> None:  # on the server's thread, for every execution
            if arn == execution_arn:
                signal.set()

        listeners = self.montemap.engine.history_listeners
        listeners.append(listener)
        try:
            yield signal
        finally:
            listeners.remove(listener)

    def stop(self, timeout: float = 60.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.montemap.functions.close()  # the server's shutdown closed it, unless it never ran
        self.montemap.close()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
