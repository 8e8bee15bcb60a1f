"""Tasks of montemap's own worker start warm: forked from a template that imported it once.

Every task of the worker task definitions runs ``${python} -m montemap.cli
worker ...``: a fresh interpreter that imports NumPy, pyarrow, SciPy and the
credit workload before its first poll (~0.45 s of CPU each). For those
tasks :class:`WarmLauncher` keeps one long-lived template process
(:mod:`montemap.ecs.warm_template`) that has imported all that once, started
as soon as a service of such tasks exists (see
:meth:`~montemap.ecs.task_runner.TaskRunner.wake`) or on the first such launch; a launch asks it to fork a child that becomes
the task (:mod:`montemap.ecs.warm_child`: its own session, SIGTERM when the
template dies, the task's log file, working directory and exact
environment). The server gets the child's pid (cgroups, process-group
signals and the records work as for any task), a ``pidfd`` to watch its exit,
and its return code from the template, which reaps it.

A task is started warm only when its command is exactly that (the server's
own interpreter, ``-m montemap.cli worker``) and its environment equals the
template's but for the variables each task has its own of
(:func:`shared_environment`: ``HOSTNAME``, ``AWS_*``, the task's ARN, CPU,
memory and data directory). Everything else (other commands, images run
through a mapping file, another interpreter, another environment) starts as
a process of its own, as does every task when ``MONTEMAP_ECS_WARM_TASKS=0``
is set in the server's or the task's environment, or when the template
cannot start or has died (said once in the server's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from montemap.ecs import warm_protocol
from montemap.ecs.processes import spawn
from montemap.ecs.taskdefs import DEFAULT_HANDLER
from montemap.errors import MontemapError

log = logging.getLogger(__name__)

#: ``0`` in the server's (or a task's) environment: start every task as its own process
#: (``1``, the default, allows warm starts; the server refuses any other value).
SWITCH = "MONTEMAP_ECS_WARM_TASKS"


def switch_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with :data:`SWITCH` in ``env`` (``None``: unset, ``0`` or ``1``)."""
    value = env.get(SWITCH)
    if value is None or value.strip() in ("0", "1"):
        return None
    return f"{SWITCH} must be 0 (every task its own process) or 1 (warm starts), not {value!r}"


#: What follows the interpreter in the command of a task that may start warm.
WORKER_ENTRY = ("-m", "montemap.cli", "worker")
#: Variables each task has its own value of; nothing the template imports reads them.
PER_TASK_VARIABLES = frozenset(
    {
        "HOSTNAME",
        "MONTEMAP_TASK_ARN",
        "MONTEMAP_CPU_UNITS",
        "MONTEMAP_MEMORY_MIB",
        "MONTEMAP_DATA_DIR",
    }
)
#: Variables that name one task: left out of the template's own environment.
TASK_IDENTITY = frozenset({"HOSTNAME", "MONTEMAP_TASK_ARN"})
#: Seconds the template may take to import what it preloads.
READY_TIMEOUT_S = 120.0
#: Seconds the template may take to fork a task and answer.
REPLY_TIMEOUT_S = 10.0


class WarmUnavailable(MontemapError):
    """The template cannot start this task: start it as a process of its own."""


def shared_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables each task has its own value of."""
    return {
        k: v for k, v in env.items() if k not in PER_TASK_VARIABLES and not k.startswith("AWS_")
    }


def is_worker_command(argv: list[str], env: Mapping[str, str], python: str) -> bool:
    """Whether ``argv`` runs montemap's worker with ``python`` (and ``env`` allows warm starts)."""
    return (
        len(argv) > len(WORKER_ENTRY)
        and argv[0] == python
        and tuple(argv[1 : 1 + len(WORKER_ENTRY)]) == WORKER_ENTRY
        and env.get(SWITCH, "1").strip() != "0"
    )


def preload_modules(argv: list[str]) -> list[str]:
    """What the template imports: the command's modules, the worker, its handler if montemap's."""
    handler = DEFAULT_HANDLER
    for index, arg in enumerate(argv):
        if arg == "--handler" and index + 1 < len(argv):
            handler = argv[index + 1]
        elif arg.startswith("--handler="):
            handler = arg.partition("=")[2]
    # not montemap.cli itself: the task runs it as __main__ (``-m``), which must not
    # find it imported already; what it imports is preloaded instead
    modules = ["argparse", "tempfile", "traceback", "montemap.errors", "montemap.worker.cli"]
    module = handler.partition(":")[0]
    if module.startswith("montemap."):  # a user's own handler is imported by its task only
        modules.append(module)
    return modules


def warm_supported() -> bool:
    """Whether this machine can fork warm tasks (Linux ``pidfd``) and the server allows it."""
    if os.environ.get(SWITCH, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    os.close(fd)
    return True


class WarmProcess:
    """A task forked by the template: not this server's child, so watched with a ``pidfd``."""

    def __init__(self, pid: int, pidfd: int, code: asyncio.Future[int | None]) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._code = code

    async def wait(self) -> int | None:
        """Wait for the exit; the return code (None if the template died before reaping it)."""
        loop = asyncio.get_running_loop()
        if self._pidfd >= 0:
            exited = loop.create_future()
            loop.add_reader(self._pidfd, _tell, exited)
            try:
                await exited
            finally:
                loop.remove_reader(self._pidfd)
                os.close(self._pidfd)
                self._pidfd = -1
        return await self._code


def _tell(exited: asyncio.Future[None]) -> None:
    if not exited.done():
        exited.set_result(None)


class WarmLauncher:
    """The template process of one server, started on the first worker task (module docstring).

    ``python`` is the interpreter of the tasks that may start warm (the
    server's); ``log_path`` receives the template's own output (else it is
    discarded).
    """

    def __init__(self, python: str = sys.executable, log_path: Path | None = None) -> None:
        self.python = python
        self.log_path = log_path
        self.enabled = warm_supported()
        self.template_pid: int | None = None
        self._environment: dict[str, str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready: asyncio.Future[bool] | None = None
        self._codes: dict[int, asyncio.Future[int | None]] = {}
        self._broken = False
        self._told_environment = False

    def accepts(self, argv: list[str], env: Mapping[str, str]) -> bool:
        """Whether this task may start warm (the template may not be ready yet)."""
        if not self.enabled or self._broken or not is_worker_command(argv, env, self.python):
            return False
        if self._environment is None:
            return True
        shared = shared_environment(env)
        if shared == self._environment:
            return True
        if not self._told_environment:
            self._told_environment = True
            names = sorted(k for k in shared.keys() ^ self._environment.keys()) or sorted(
                k for k in shared if shared[k] != self._environment[k]
            )
            log.info(
                "a worker task's environment differs from the warm template's (%s): "
                "such tasks start as processes of their own",
                ", ".join(names[:5]),
            )
        return False

    @property
    def started(self) -> bool:
        """Whether a template was started (it may have ended since)."""
        return self._ready is not None

    @property
    def is_ready(self) -> bool:
        """Whether the template is there and ready to fork tasks."""
        ready = self._ready
        return (
            not self._broken
            and ready is not None
            and ready.done()
            and ready.result()
            and self._sock is not None
        )

    def start(self, argv: list[str], env: Mapping[str, str]) -> None:
        """Start the template for tasks like this one (``argv``, ``env``), unless started.

        It imports in the background; a launch waits for it (:meth:`ready`).
        """
        if self._ready is not None or self._broken:
            return
        try:
            self._start(argv, env)
        except OSError as exc:
            self._give_up(f"cannot start the warm task template: {exc}")

    async def ready(self, argv: list[str], env: Mapping[str, str]) -> bool:
        """Start the template for tasks like this one if needed; whether it is ready now."""
        self.start(argv, env)
        if self._ready is None:
            return False
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT_S)
        except TimeoutError:
            self._give_up(f"the warm task template was not ready after {READY_TIMEOUT_S:g} s")
            return False

    def _start(self, argv: list[str], env: Mapping[str, str]) -> None:
        loop = asyncio.get_running_loop()
        self._environment = shared_environment(env)
        # The first task's environment but for what names it: what /proc/PID/environ shows
        # for every task (the environment a process started with; the task's own is set after).
        started_with = {k: v for k, v in env.items() if k not in TASK_IDENTITY}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [
            self.python,
            "-m",
            "montemap.ecs.warm_template",
            "--socket",
            str(theirs.fileno()),
        ]
        for module in preload_modules(argv):
            command += ["--preload", module]
        command += ["--", *argv[1:]]  # what ps shows for the template and its tasks
        try:
            output = self._template_output()
        except OSError:
            ours.close()
            theirs.close()
            raise
        try:
            self._process = spawn(command, started_with, output, pass_fds=(theirs.fileno(),))
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
            if not isinstance(output, int):
                output.close()
        ours.setblocking(False)
        self._sock = ours
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)

    def _template_output(self) -> Any:
        if self.log_path is None:
            return subprocess.DEVNULL
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.log_path, "ab")  # closed once the template is started

    def launch(
        self, argv: list[str], env: Mapping[str, str], cwd: str, log_fd: int | None
    ) -> WarmProcess:
        """Fork the task from the ready template; WarmUnavailable if it cannot."""
        sock = self._sock
        if sock is None or not self.is_ready:
            raise WarmUnavailable("the warm task template is not ready")
        request = {"argv": argv[1:], "env": dict(env), "cwd": cwd}
        try:
            warm_protocol.send(sock, request, [] if log_fd is None else [log_fd])
            pid, pidfd = self._await_started(sock)
        except (OSError, ValueError, TimeoutError) as exc:
            self._give_up(f"the warm task template failed: {exc}")
            raise WarmUnavailable(str(exc)) from exc
        self._codes[pid] = asyncio.get_running_loop().create_future()
        return WarmProcess(pid, pidfd, self._codes[pid])

    def _await_started(self, sock: socket.socket) -> tuple[int, int]:
        """Read messages until the template answers a request; (pid, pidfd)."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while True:
            try:
                message, fds = warm_protocol.receive(sock)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer within {REPLY_TIMEOUT_S:g} s") from None
                poller.poll(left * 1000)
                continue
            if message is None:
                raise OSError("the warm task template exited")
            if "started" in message and len(fds) == 1:
                return int(message["started"]), fds[0]
            for fd in fds:
                os.close(fd)
            if "failed" in message:
                raise WarmUnavailable(str(message["failed"]))
            self._dispatch(message)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            message, fds = warm_protocol.receive(sock)
        except BlockingIOError:
            return
        except (OSError, ValueError) as exc:
            self._give_up(f"the warm task template failed: {exc}")
            return
        for fd in fds:
            os.close(fd)
        if message is None:
            self._give_up("the warm task template exited")
            return
        self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "exited" in message:
            code = self._codes.pop(int(message["exited"]), None)
            if code is not None and not code.done():
                code.set_result(int(message["code"]))
        elif "ready" in message:
            self.template_pid = int(message["ready"])
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(True)
        elif "error" in message:
            self._give_up(f"the warm task template cannot start: {message['error']}")

    def _give_up(self, why: str) -> None:
        """Start every later task as a process of its own; say why once."""
        if not self._broken:
            log.warning("%s; starting worker tasks as processes of their own", why)
        self._broken = True
        self.close()

    def close(self) -> None:
        """End the template for good (tasks left get SIGTERM); unblock their watchers."""
        self._broken = True
        if self._sock is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(False)
        for code in self._codes.values():
            if not code.done():
                code.set_result(None)
        self._codes.clear()
        process, self._process = self._process, None
        if process is not None:
            try:
                process.wait(timeout=5)  # it exits when its socket closes
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
