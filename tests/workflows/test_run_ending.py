"""``montemap run``'s fixed costs, second round: what its own process does around the job.

- The embedded server stops when it is told, not at its loop's next tick, and its
  shutdown waits for its connections only while they are open (uvicorn's own waits a
  fixed 0.1 s first): :class:`~montemap.api.httpserver.PromptServer`.
- The server ``montemap run`` starts serves the run's calls without Jinja2 (the
  console's templates are made on its first page).
- The command's process skips the interpreter's last collection (``gc.freeze`` at exit).

Real uvicorn servers on loopback, real processes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from montemap.api.httpserver import HttpLimits, PromptServer, server_config
from montemap.testing import eventually
from montemap.workflows.embedded import EmbeddedServer, free_port

pytestmark = pytest.mark.timeout(120)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Far longer than any stop may take here: a stop that waited for the loop's own
#: tick could not end within the tests' deadlines.
LONG_TICK = 600.0


class _App:
    """A bare ASGI application: ``/slow`` answers once :attr:`release` is set."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.shut_down = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.shut_down.set()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/slow":
            self.entered.set()
            await asyncio.to_thread(self.release.wait, 60)
        body = b"done"
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextmanager
def _serving(app: _App) -> Iterator[tuple[PromptServer, threading.Thread, int]]:
    port = free_port()
    config = server_config(
        app, host="127.0.0.1", port=port, limits=HttpLimits(), shutdown_timeout=60
    )
    server = PromptServer(config, tick=LONG_TICK)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(60), "the server did not start"
        yield server, thread, port
    finally:
        server.stop_soon()
        thread.join(60)


def test_a_stop_wakes_the_server_and_closes_its_idle_connections() -> None:
    app = _App()
    with _serving(app) as (server, thread, port):
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        idle.request("GET", "/")
        assert idle.getresponse().read() == b"done"  # kept alive, idle
        server.stop_soon()
        thread.join(60)
        assert not thread.is_alive(), "the server waited for its loop's tick"
        assert app.shut_down.is_set()  # the application's shutdown ran
        assert idle.sock is not None
        idle.sock.settimeout(60)
        assert idle.sock.recv(1) == b""  # the server closed the idle connection
        idle.close()


def test_a_request_in_flight_is_answered_before_the_server_stops() -> None:
    app = _App()
    with _serving(app) as (server, thread, port):
        busy = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        busy.request("GET", "/slow")
        assert app.entered.wait(60)
        server.stop_soon()
        with pytest.raises(ConnectionRefusedError):  # no new connections once stopping
            eventually(
                lambda: socket.create_connection(("127.0.0.1", port), timeout=5).close(),
                timeout=60,
                what="the listener closed",
            )
        assert thread.is_alive() and not app.shut_down.is_set()
        app.release.set()
        response = busy.getresponse()
        assert (response.status, response.read()) == (200, b"done")
        assert response.getheader("connection") == "close"
        thread.join(60)
        assert not thread.is_alive() and app.shut_down.is_set()
        busy.close()


_SERVE_THE_RUN = textwrap.dedent(
    """
    import json, sys, urllib.request
    from pathlib import Path
    from montemap.workflows.client import Clients, WorkflowClient
    from montemap.workflows.embedded import EmbeddedServer

    server = EmbeddedServer(Path(sys.argv[1]), cgroups=False)
    server.start()
    try:
        client = WorkflowClient(Clients.for_endpoint(server.url))
        client.install()
        client.use_task_definition("small")
        client.metrics()
        before = "jinja2" in sys.modules
        with urllib.request.urlopen(server.url + "/console/", timeout=60) as page:
            status = page.status
        after = "jinja2" in sys.modules
    finally:
        server.stop()
    print(json.dumps({"before": before, "page": status, "after": after}))
    """
)


def test_the_run_s_server_does_without_jinja2_until_a_page_is_shown(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_THE_RUN, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {"before": False, "page": 200, "after": True}


_RUN_PROBE = textwrap.dedent(
    """
    import atexit, gc, sys
    # registered before the command's own handler, so it runs after it
    atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
    from montemap.cli import main
    sys.exit(main(["run", "--data-dir", sys.argv[1], "--quiet"]))
    """
)


def test_the_run_command_skips_the_last_collection_at_exit(tmp_path: Path) -> None:
    # a source bucket with objects but no inventory: the command refuses it, after the
    # point where a run registers its exit handler, and before it starts anything
    source = tmp_path / "buckets" / "montemap-source"
    source.mkdir(parents=True)
    (source / "stray.csv").write_text("x\n")
    done = subprocess.run(
        [sys.executable, "-c", _RUN_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode != 0 and "holds objects but no inventory" in done.stderr
    assert done.stdout.strip().splitlines()[-1] == "frozen at exit: True"
    assert "Traceback" not in done.stderr


def test_a_server_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "montemap.cli", "run", "--server", url, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"montemap: error: cannot reach the montemap server at {url}")
    assert len(done.stderr.strip().splitlines()) == 1 and "internal error" not in done.stderr


def test_the_server_s_thread_closes_the_database_once_told_to_stop(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path, cgroups=False)
    server.start()
    try:
        clean = tmp_path / "montemap.db-clean"
        assert not clean.exists()
        server.stop_soon()
        # closed without waiting for stop(): ``montemap run`` writes its results meanwhile
        eventually(clean.exists, timeout=60, what="the database's clean close")
        server.thread.join(60)
        assert not server.thread.is_alive()
    finally:
        server.stop()
    server.stop()  # a second stop does nothing
    assert clean.exists()
