"""The warm task template: a process that imported montemap's worker once, and forks its tasks.

    python -m montemap.ecs.warm_template --socket FD [--preload MODULE]... [-- TASK ARGS...]

:mod:`montemap.ecs.warm_tasks` starts it (with the parent-death signal, so
it dies with the server) on one end of a socket pair
(:mod:`montemap.ecs.warm_protocol`). It imports the ``--preload`` modules
(the ``montemap`` command, the worker, its handler's module and what they
import: NumPy, pyarrow...), says it is ready, then serves: for each request
it forks a child that becomes the task (:mod:`montemap.ecs.warm_child`),
waits until the child is in its own session with its parent-death signal
set, and answers the child's pid with a ``pidfd`` of it; when a child exits
it reaps it and reports its return code. It ends when the server closes its
end of the socket (its tasks then get SIGTERM, as they would if the server
died).

Its Python code runs on one thread that starts no other and uses no asyncio,
so that a ``fork()`` copies no Python lock held by a thread the child would
not have. The libraries it imports may run threads of their own: PyArrow's
allocator (jemalloc) starts a background purging thread; jemalloc takes its
locks around ``fork()`` (``pthread_atfork``) and leaves that thread off in
the child.
"""

from __future__ import annotations

import gc
import importlib
import os
import select
import socket
import sys
from typing import Any

from montemap.ecs import warm_protocol
from montemap.ecs.warm_child import Disposition, become_task, fresh_dispositions


def main(argv: list[str]) -> int:
    """Preload, say so, then fork tasks until the server closes the socket."""
    dispositions = fresh_dispositions()
    sock_fd, preload = _parse(argv)
    sock = socket.socket(fileno=sock_fd)
    for name in preload:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # the server falls back to starting tasks as processes
            warm_protocol.send(sock, {"error": f"cannot import {name}: {exc!r}"})
            return 1
    gc.collect()
    gc.freeze()  # the children's collector then never walks (and copies) these objects
    warm_protocol.send(sock, {"ready": os.getpid()})
    _Template(sock, dispositions).serve()
    return 0


def _parse(argv: list[str]) -> tuple[int, list[str]]:
    sock_fd: int | None = None
    preload: list[str] = []
    pairs = iter(argv)
    for option in pairs:
        if option == "--":
            break  # the command of its tasks, for ps to show (a task's cmdline is its template's)
        value = next(pairs, None)
        if value is None:
            raise SystemExit(f"warm_template: {option} needs a value")
        if option == "--socket":
            sock_fd = int(value)
        elif option == "--preload":
            preload.append(value)
        else:
            raise SystemExit(f"warm_template: unknown option {option}")
    if sock_fd is None:
        raise SystemExit("warm_template: --socket FD is required")
    return sock_fd, preload


class _Template:
    """The serving loop: requests from the server, exits of the children."""

    def __init__(self, sock: socket.socket, dispositions: dict[int, Disposition]) -> None:
        self.sock = sock
        self.dispositions = dispositions
        self.startup_dir = os.getcwd()
        self.poller = select.poll()
        self.poller.register(sock.fileno(), select.POLLIN)
        self.children: dict[int, int] = {}  # pidfd -> pid

    def serve(self) -> None:
        while True:
            for fd, _ in self.poller.poll():
                if fd != self.sock.fileno():
                    self._reap(fd)
                    continue
                message, fds = warm_protocol.receive(self.sock)
                if message is None:
                    return  # the server is gone or closed us
                try:
                    self._fork(message, fds)
                finally:
                    for received in fds:
                        os.close(received)

    def _fork(self, request: dict[str, Any], fds: list[int]) -> None:
        argv, env, cwd = request["argv"], request["env"], request["cwd"]
        log_fd = fds[0] if fds else None
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing of the template's output in a child's buffers
        template_pid = os.getpid()
        ready_r, ready_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(ready_r)
            os.close(ready_w)
            warm_protocol.send(self.sock, {"failed": f"cannot fork a task: {exc}"})
            return
        if pid == 0:
            become_task(
                argv,
                env,
                cwd,
                log_fd,
                template_pid=template_pid,
                dispositions=self.dispositions,
                startup_dir=self.startup_dir,
            )
        os.close(ready_w)
        os.read(ready_r, 1)  # end of file: the child closed its descriptors
        os.close(ready_r)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = pid
        self.poller.register(pidfd, select.POLLIN)
        warm_protocol.send(self.sock, {"started": pid}, [pidfd])

    def _reap(self, pidfd: int) -> None:
        pid = self.children.pop(pidfd)
        self.poller.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        warm_protocol.send(self.sock, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except (BrokenPipeError, ConnectionResetError):
        code = 0  # the server went away
    sys.stdout.flush()
    os._exit(code)
