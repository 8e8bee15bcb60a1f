"""An embedded montemap server: the whole server in a background thread of this process.

``montemap run`` uses it when no ``--server`` is given; everything else talks
to it over HTTP with boto3, exactly as to a separate server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

from montemap.api.httpserver import HttpLimits, PromptServer, server_config
from montemap.assembly import Montemap, Settings
from montemap.datadir_lock import DataDirLock
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
        data_dir_lock: DataDirLock | None = None,
    ) -> None:
        """``warm_functions``: modules to import in the functions' first process, started
        now (:meth:`montemap.engine.lambdas.FunctionRegistry.warm`); none: started on the
        first function call. ``data_dir_lock``: the data directory's lock if the caller
        holds it already (the server releases it when it stops)."""
        self.port = port or free_port()
        self.montemap = Montemap(
            Settings(
                data_dir=data_dir, port=self.port, cgroups=cgroups, data_dir_lock=data_dir_lock
            )
        )
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
        # Its worker tasks stop first, while it answers them (their results are kept).
        self.server = PromptServer(
            config,
            on_shutdown=self.montemap.engine.activities.end_polls,
            stop_tasks=self.montemap.services.close,
        )
        self._closing = threading.Lock()  # held by whoever closes the server's parts
        self._close_error: BaseException | None = None
        # uvicorn installs signal handlers only in the main thread: Ctrl-C stays ours.
        self.thread = threading.Thread(target=self._serve, name="montemap-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; returns once the server listens (its application started)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.ready.wait(0.05):
            if not self.thread.is_alive():
                raise EmbeddedServerError("the embedded server stopped during startup")
            if time.monotonic() >= deadline:
                raise EmbeddedServerError(f"the embedded server did not start within {timeout} s")

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

    def stop_soon(self) -> None:
        """Begin to stop: the server closes its connections, then its application and
        its database, on its own thread; :meth:`stop` waits for the end."""
        self.server.stop_soon()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop, and wait until the server and its database are closed."""
        self.server.stop_soon()
        if self.thread.is_alive():
            self.thread.join(timeout)
        self._close()  # where the server's thread never ran
        error, self._close_error = self._close_error, None
        if error is not None:
            raise error

    def _serve(self) -> None:
        try:
            self.server.run()
        finally:
            # Closed here, as soon as the server ends: the database's last checkpoint
            # (disk writes, up to a few tenths of a second after a large run) runs beside
            # what the caller does between stop_soon() and stop().
            try:
                self._close()
            except BaseException as exc:  # raised by stop(), on the caller's thread
                self._close_error = exc

    def _close(self) -> None:
        if not self._closing.acquire(blocking=False):
            return  # closed (or being closed) already
        self.montemap.functions.close()  # the server's shutdown closed it, unless it never ran
        self.montemap.close()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
