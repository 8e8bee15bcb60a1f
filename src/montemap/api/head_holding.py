"""One send per small response: the status line and headers leave with the body.

uvicorn writes a response's head (status line and headers) when the application
sends ``http.response.start`` and its body when it sends ``http.response.body``:
two ``send`` system calls and two TCP segments for every response, and on the
client's side two wake-ups where one would do. A :class:`HeadHoldingTransport`
stands between one request's response cycle and the connection's transport: it
holds the head and writes it joined with the next write (the body, or its first
chunk), when the cycle closes the connection, or when the response completes with
no body written at all (``HEAD``). Everything else passes straight through, in
order: an interim ``100 Continue`` is written before the response starts and is
never held.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class _Cycle(Protocol):
    response_started: bool
    scope: Any


class HeadHoldingTransport:
    """The transport one response cycle writes to (see the module's docstring)."""

    __slots__ = ("_cycle", "_held", "_seen_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: _Cycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None
        self._seen_head = cycle.scope["method"] == "HEAD"  # nothing follows its head

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif not self._seen_head and self._cycle.response_started:
            self._seen_head = True  # the cycle writes its head just after starting
            self._held = data
        else:
            self._transport.write(data)

    def close(self) -> None:
        held = self._held
        if held is not None:  # a response that ended without its body: as uvicorn would
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
