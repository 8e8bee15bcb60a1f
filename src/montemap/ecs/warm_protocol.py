"""The messages between the server and the warm task template: JSON, with file descriptors.

Both ends hold one ``AF_UNIX`` ``SOCK_SEQPACKET`` socket of a pair, so every
message arrives whole. A message is a JSON object; file descriptors travel
beside it as ``SCM_RIGHTS`` (the receiver gets its own copies). The server
asks ``{"argv", "env", "cwd"}`` with the task's log file (or none: output
discarded); the template answers ``{"ready": pid}`` once it has imported
what it preloads (or ``{"error": text}`` and exits), ``{"started": pid}``
with the task's ``pidfd`` for each request (or ``{"failed": text}``), and
``{"exited": pid, "code": returncode}`` when it has reaped a task
(``returncode`` as :attr:`subprocess.Popen.returncode`: ``-N`` for signal N).

The template imports this module before anything else, so it imports only
the standard library.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import socket
from typing import Any

#: The largest message either end sends (a task's environment included).
MAX_MESSAGE = 1 << 20
#: The most descriptors one message carries.
MAX_FDS = 4


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send ``message`` with copies of ``fds``; OSError if the peer is gone or the socket full."""
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise OSError(f"warm task message of {len(data)} bytes is over {MAX_MESSAGE}")
    ancillary = []
    if fds:
        ancillary.append((socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes()))
    sock.sendmsg([data], ancillary)


def receive(sock: socket.socket, flags: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors that came with it; (None, []) at end of stream.

    Raises BlockingIOError where the socket is non-blocking and has nothing,
    ValueError for a message that is not a JSON object.
    """
    size = array.array("i").itemsize
    data, ancillary, _, _ = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * size), flags)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[: len(payload) - len(payload) % size])
            fds.extend(received)
    if not data:
        for fd in fds:
            _close(fd)
        return None, []
    message = json.loads(data)
    if not isinstance(message, dict):
        for fd in fds:
            _close(fd)
        raise ValueError(f"warm task message is not a JSON object: {data[:80]!r}")
    return message, fds


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
