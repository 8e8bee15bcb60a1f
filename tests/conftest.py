"""Shared fixtures: a real ``montemap server`` subprocess and boto3 clients for it.

The harness is shipped with montemap (:mod:`montemap.testing`), so users' own
tests can use it too; this file makes its fixtures available to every test and
re-exports the names older tests import from here. It also fails a passing test
that leaves an HTTP response open on a closed socket (see :class:`SocketWatch`).
"""

from __future__ import annotations

import socket
import sys
import threading
import traceback
import weakref
from collections.abc import Iterator

import pytest

from montemap.testing import (
    DUMMY_AWS_ENV,
    DUMMY_CREDENTIALS,
    REGION,
    MontemapServer,
    ServerError,
    eventually,
    free_port,
)
from montemap.testing.fixtures import (
    montemap_server,
    server_factory,
    sfn_client,
    shared_montemap_server,
    shared_sfn_client,
)

__all__ = [
    "DUMMY_AWS_ENV",
    "DUMMY_CREDENTIALS",
    "REGION",
    "MontemapServer",
    "ServerError",
    "eventually",
    "free_port",
    "montemap_server",
    "server_factory",
    "sfn_client",
    "shared_montemap_server",
    "shared_sfn_client",
]


class SocketWatch:
    """Finds sockets that a test's own thread made and left closed but still open.

    A socket whose ``close()`` was called while a file from ``makefile()`` still
    holds it (an unclosed ``http.client`` response, or a ``urllib.error.HTTPError``,
    which holds its response) keeps its descriptor until that file is closed. Left
    in a reference cycle (``pytest.raises(...) as info`` makes one), the cyclic GC
    frees it whenever it runs, in some later test, which then errors with
    ``ResourceWarning: unclosed <socket.socket [closed] ...>``.
    """

    def __init__(self) -> None:
        self.made: weakref.WeakKeyDictionary[socket.socket, str] | None = None

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        """The audit hook: note where each socket is made while watching."""
        if event != "socket.__new__" or self.made is None:
            return
        sock = args[0]
        if (
            isinstance(sock, socket.socket)
            and threading.current_thread() is threading.main_thread()
        ):
            self.made[sock] = "".join(traceback.format_stack(limit=16)[:-1])

    def start(self) -> None:
        self.made = weakref.WeakKeyDictionary()

    def left_open(self) -> list[str]:
        """Where each watched socket that is closed but still holds its descriptor was made."""
        made = list((self.made or {}).items())
        return [
            where for sock, where in made if getattr(sock, "_closed", False) and sock.fileno() != -1
        ]

    def stop(self) -> list[str]:
        left = self.left_open()
        self.made = None
        return left


SOCKET_WATCH = SocketWatch()
sys.addaudithook(SOCKET_WATCH.audit)
_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    SOCKET_WATCH.start()
    return (yield from _noting_failure(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _noting_failure(item))


def _noting_failure(item: pytest.Item) -> Iterator[None]:
    """Run the phase; a test that failed (or was skipped) is not also blamed for a socket."""
    try:
        return (yield)
    except BaseException:
        item.stash[_CALL_FAILED] = True
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    result = yield
    left = SOCKET_WATCH.stop()
    if left and not item.stash.get(_CALL_FAILED, False):
        pytest.fail(
            f"{item.nodeid} left {len(left)} HTTP response(s) open on a closed socket (an"
            " unclosed response, or a urllib HTTPError, which holds one): close it (`with"
            " urlopen(...)`, `with info.value:` after `pytest.raises`), or a later test errors"
            " with 'unclosed <socket.socket [closed]'. Made at:\n" + "\n".join(left),
            pytrace=False,
        )
    return result
