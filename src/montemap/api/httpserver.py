"""The HTTP server under the app: uvicorn (httptools) with read deadlines and a per-client cap.

uvicorn's httptools protocol arms no timer until a connection has finished
its first response (then only the keep-alive timer, which the next byte
received cancels): a client that connects and sends nothing, or half a
request line, or headers without their end, or a body shorter than its
``Content-Length``, holds its connection (and a file descriptor) forever.
:class:`GuardedProtocol` adds:

- a **header deadline**: the request line and headers must be complete within
  ``header_timeout`` seconds of the connection's opening, or of the first byte
  of a request that follows a response (trickling bytes does not extend it);
- a **body idle timeout**: while a request body is being received, each
  ``body_timeout`` seconds must bring more of it (time the server itself is
  not reading does not count). Responses are not limited: a long poll's
  request is complete before it starts waiting;
- a **cap on the size of the request line and headers** (``MAX_HEADER_BYTES``,
  as large as any AWS SDK request needs many times over): past it the
  request is answered 431 and the connection closed;
- a **cap on open connections per client address**: over it, a new
  connection is answered 503 and closed at once, logged once until that
  client is back under the cap.

Headers that time out are answered 408 and the connection closed; a body
that stalls closes the connection (the application sees a disconnect). Every
answer this layer writes itself (408, 431, 503, the parser's 400, uvicorn's 500
for an application that fails before answering) carries what every error answer
of the application does (``nosniff``, ``no-store``, a sandboxing policy:
:data:`montemap.api.hosts.REFUSAL_HEADERS`) and ``Connection: close``.
:func:`server_config` builds the one uvicorn configuration ``montemap server``
and the embedded server of ``montemap run`` share; :class:`PromptServer` is
uvicorn's server stopped at once when told (the embedded server's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from montemap.api.hosts import REFUSAL_HEADERS
from montemap.errors import MontemapError

log = logging.getLogger("montemap.api.http")
#: uvicorn's own logger, for the one message its shutdown writes.
uvicorn_log = logging.getLogger("uvicorn.error")

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 60.0
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 256
#: Request line plus header names and values, per request.
MAX_HEADER_BYTES = 64 * 1024


def own_answer(status: str, text: str, *extra: tuple[str, str]) -> bytes:
    """A whole answer the HTTP layer writes itself, before (or instead of) the application.

    It carries what every error answer of the application carries
    (:data:`~montemap.api.hosts.REFUSAL_HEADERS`: ``nosniff``, ``no-store``, a sandboxing
    policy): the request it answers may be one a page of another site made. The
    connection closes after it (``Connection: close``).
    """
    body = text.encode("ascii")
    headers = [
        ("content-type", "text/plain; charset=utf-8"),
        *((name.lower(), value) for name, value in REFUSAL_HEADERS.items()),
        *extra,
        ("connection", "close"),
        ("content-length", str(len(body))),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode("ascii") + body


_TIMEOUT_408 = own_answer("408 Request Timeout", "The request headers took too long to arrive")
_TOO_LARGE_431 = own_answer(
    "431 Request Header Fields Too Large",
    f"The request line and headers exceed {MAX_HEADER_BYTES} bytes",
)
_BUSY_503 = own_answer(
    "503 Service Unavailable", "Too many open connections from this client", ("retry-after", "1")
)
#: The headers of uvicorn's answer to an application that fails before it answers.
_FAILED_500_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    *((name.lower().encode(), value.encode()) for name, value in REFUSAL_HEADERS.items()),
    (b"connection", b"close"),
    (b"content-length", b"21"),
]


class _ContainedCycle(RequestResponseCycle):
    """uvicorn's request cycle, whose 500 (the application raised, or returned without
    answering) carries :data:`~montemap.api.hosts.REFUSAL_HEADERS` like every error answer."""

    async def send_500_response(self) -> None:
        await self.send(
            {"type": "http.response.start", "status": 500, "headers": _FAILED_500_HEADERS}
        )
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})


class _HeadersTooLarge(Exception):
    """A request's line and headers passed ``MAX_HEADER_BYTES`` (stops the parser)."""


class HttpLimitsError(MontemapError):
    """An HTTP timeout or connection cap that cannot be used."""


@dataclass(frozen=True)
class HttpLimits:
    """How long a client may take to send a request, and how many connections it may hold."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections_per_client: int = DEFAULT_MAX_CONNECTIONS_PER_CLIENT

    def __post_init__(self) -> None:
        if not self.header_timeout > 0:
            raise HttpLimitsError(f"--header-timeout must be positive (got {self.header_timeout})")
        if not self.body_timeout > 0:
            raise HttpLimitsError(f"--body-timeout must be positive (got {self.body_timeout})")
        if self.max_connections_per_client < 1:
            raise HttpLimitsError(
                "--max-connections-per-client must be at least 1 "
                f"(got {self.max_connections_per_client})"
            )


class _Clients:
    """Open connections per client address, shared by one server's connections."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}
        self.warned: set[str] = set()


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and the cap above.

    One subclass is made per server (:func:`protocol_class`), holding its
    limits and its table of clients in class attributes.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()
    clients: ClassVar[_Clients]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: float | None = None  # loop time by which the current phase must end
        self._reading_body = False
        self._timer: asyncio.TimerHandle | None = None
        self._address: str | None = None  # set while counted against the client's cap
        self._header_bytes = 0  # of the request being read

    # -- the per-client cap

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        table = self.clients
        count = table.open.get(address, 0)
        if count >= self.limits.max_connections_per_client:
            if address not in table.warned:
                table.warned.add(address)
                log.warning(
                    "client %s holds %d open connections (--max-connections-per-client %d): "
                    "refusing its new connections until it closes some",
                    address,
                    count,
                    self.limits.max_connections_per_client,
                )
            transport.write(_BUSY_503)
            transport.close()
            return
        table.open[address] = count + 1
        self._address = address
        self._expect_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = None
        address, self._address = self._address, None
        if address is not None:
            table = self.clients
            left = table.open.get(address, 1) - 1
            if left > 0:
                table.open[address] = left
            else:
                table.open.pop(address, None)
            if left < self.limits.max_connections_per_client:
                table.warned.discard(address)
        super().connection_lost(exc)

    # -- the deadlines

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._address is not None:
            self._expect_headers()  # the first bytes of a new request
        if self._header_bytes <= MAX_HEADER_BYTES:  # else refused already
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """The answer to a parser error (uvicorn's 400, with the headers of every error
        answer); 431 when the error was headers too large."""
        if self._header_bytes <= MAX_HEADER_BYTES:
            self.transport.write(own_answer("400 Bad Request", msg))
        else:
            log.debug("closing connection from %s: request headers too large", self._address)
            self.transport.write(_TOO_LARGE_431)
        self.transport.close()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's own on_header, inlined with the size count: this runs for every
        # header of every request (a boto3 request has about ten).
        size = self._header_bytes = self._header_bytes + len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            raise _HeadersTooLarge  # stops the parser: uvicorn calls send_400_response
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace (RFC 9110 5.5)
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _HeadersTooLarge  # stops the parser: uvicorn calls send_400_response

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:
            cycle.__class__ = _ContainedCycle  # its task has not started: its 500 is contained
        if cycle is not None and cycle.waiting_for_100_continue and not self.pipeline:
            # Answer ``Expect: 100-continue`` now rather than when the application
            # first reads the body: the client (botocore, on every PutObject) sends
            # the body while the request is being routed, so it is usually there
            # by the time the application asks for it (no extra loop turn).
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        self._reading_body = True
        self._set_deadline(self.limits.body_timeout)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._deadline = self.loop.time() + self.limits.body_timeout

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_body = False
        self._deadline = None

    def _expect_headers(self) -> None:
        self._reading_body = False
        self._header_bytes = 0
        self._set_deadline(self.limits.header_timeout)

    def _set_deadline(self, seconds: float) -> None:
        deadline = self._deadline = self.loop.time() + seconds
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return  # it fires first and waits on
            self._timer.cancel()
        self._timer = self.loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        """The one timer of a connection: close it if its phase is overdue, else wait on."""
        self._timer = None
        if self._deadline is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._reading_body and self.flow.read_paused:
            self._deadline = now + self.limits.body_timeout  # the server is not reading
        if now < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            return
        self._deadline = None
        if self._reading_body:
            log.debug("closing connection from %s: request body stalled", self._address)
            self.transport.close()
            return
        log.debug("closing connection from %s: request headers timed out", self._address)
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TIMEOUT_408)
        self.transport.close()


def protocol_class(limits: HttpLimits) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` subclass of its own for one server."""
    attributes = {"limits": limits, "clients": _Clients()}
    return type("MontemapHttpProtocol", (GuardedProtocol,), attributes)


def server_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    limits: HttpLimits,
    log_level: str = "info",
    access_log: bool = False,
    shutdown_timeout: int = 5,
) -> uvicorn.Config:
    """The uvicorn configuration of a montemap server."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(limits),
        loop="asyncio",
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,  # loopback by default; no proxy in front to trust
        # No "server: uvicorn" on every response: one header fewer for every client
        # to parse (botocore looks up each modeled header by a scan of all of them).
        server_header=False,
        timeout_graceful_shutdown=shutdown_timeout,
    )


class PromptServer(uvicorn.Server):
    """uvicorn's server that says when it serves, and stops as soon as it is told.

    uvicorn's own loop looks at ``should_exit`` every 0.1 s and, once stopping,
    sleeps a fixed 0.1 s before it waits (in 0.1 s steps) for its connections to
    close: 0.15-0.2 s at the end of every ``montemap run``. Here :meth:`stop_soon`
    wakes the loop, and the shutdown waits for the connections only while they stay
    open (an idle keep-alive connection closes at the next turn of the loop; one
    with a request in flight closes after its response, as in uvicorn). ``tick``:
    how often the loop wakes on its own (the ``Date`` header, once a second, is
    refreshed every tenth tick, as uvicorn's).

    The shutdown stops the server's worker tasks first (``stop_tasks``), while HTTP
    still answers them, as ``montemap server``'s does: a task reports the work in its
    hands and exits, instead of retrying against a server that is gone until its stop
    grace ends. Then the engine's long polls end (``on_shutdown``), then HTTP stops.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        tick: float = 0.1,
        on_shutdown: Callable[[], None] | None = None,
        stop_tasks: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(config)
        self.tick = tick
        #: Called on the loop as the shutdown begins (the engine ends its long polls).
        self.on_shutdown = on_shutdown
        #: Awaited on the loop before that, while HTTP answers (the worker tasks stop).
        self.stop_tasks = stop_tasks
        #: Set once the server listens (its application has started).
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await super().startup(sockets)
        if self.started:
            self.ready.set()

    def stop_soon(self) -> None:
        """Ask the server to stop now (from any thread); :meth:`run` then returns."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            if self._wake is None:
                await asyncio.sleep(self.tick)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.tick)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.stop_tasks is not None:
            await self.stop_tasks()
        if self.on_shutdown is not None:
            self.on_shutdown()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        grace = self.config.timeout_graceful_shutdown
        deadline = loop.time() + (grace if grace is not None else float("inf"))
        await asyncio.sleep(0)  # the idle connections' close completes on this turn
        while (state.connections or state.tasks) and not self.force_exit:
            if loop.time() >= deadline:
                uvicorn_log.error(
                    "Cancel %s running task(s), timeout graceful shutdown exceeded",
                    len(state.tasks),
                )
                for task in state.tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                break
            await asyncio.sleep(min(self.tick, 0.01))
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()
