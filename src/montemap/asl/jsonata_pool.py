"""Evaluator processes: where a JSONata template runs under hard limits.

Each evaluator is a process started through the ``forkserver`` (never a fork
of the server, which holds sockets and threads), with ``RLIMIT_AS`` set to
what it needs at rest plus the memory limit, so an allocation past the limit
fails inside it (``MemoryError``) instead of growing the server. The parent
waits for the answer on a thread of the pool's own, off the event loop; an
evaluator that has not answered by the time limit (plus a short grace for
the evaluator's own timeout to report first) is killed and replaced, and one
that died is replaced. Both read as ``States.QueryEvaluationError``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import resource
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

from montemap.asl import jsonata_query
from montemap.asl.jsonata_functions import MEMORY_LIMIT_MESSAGE
from montemap.asl.jsonata_limits import QueryLimits
from montemap.errors import QUERY_EVALUATION_ERROR, EvaluationError

__all__ = ["EvaluatorPool", "Request"]

#: How long past the time limit the parent waits before killing an evaluator.
GRACE_S: Final[float] = 0.5
#: How long a new evaluator may take to start (not counted against the time limit:
#: starting a process on a busy machine is not the template's fault).
STARTUP_TIMEOUT_S: Final[float] = 60.0

_OK: Final[str] = "ok"
_ERROR: Final[str] = "error"
_MEMORY: Final[str] = "memory"
_READY: Final[str] = "ready"


@dataclass(frozen=True)
class Request:
    """One template and what it is evaluated against."""

    template: str
    field: str
    states: dict[str, Any]
    variables: dict[str, Any]


class EvaluatorPool:
    """Up to ``limits.workers`` evaluator processes, started on first use."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._idle: queue.SimpleQueue[_Evaluator] = queue.SimpleQueue()
        self._threads = ThreadPoolExecutor(
            max_workers=limits.workers, thread_name_prefix="montemap-jsonata"
        )

    async def evaluate(self, request: Request) -> Any:
        """The template's value; :class:`EvaluationError` on any failure or breach."""
        loop = asyncio.get_running_loop()
        kind, detail = await loop.run_in_executor(self._threads, self._call, request)
        if kind == _OK:
            return detail
        subject = _subject(request)
        if kind == _MEMORY:
            cause = f"{subject} threw an error during evaluation: {MEMORY_LIMIT_MESSAGE}"
            raise EvaluationError(QUERY_EVALUATION_ERROR, cause)
        if kind == "timeout":
            cause = (
                f"{subject} threw an error during evaluation. D1012: Evaluation timeout after "
                f"{self.limits.timeout_ms} milliseconds. Check for infinite loop"
            )
            raise EvaluationError(QUERY_EVALUATION_ERROR, cause)
        error, cause = detail
        raise EvaluationError(error, cause)

    def close(self) -> None:
        """Stop every evaluator (a later :meth:`evaluate` starts new ones)."""
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def _call(self, request: Request) -> tuple[str, Any]:
        try:
            evaluator = self._idle.get_nowait()
        except queue.Empty:
            evaluator = _Evaluator(self._context, self.limits)
        reply = evaluator.ask(request, self.limits.timeout_s + GRACE_S)
        if reply is None:
            evaluator.stop()
            return ("timeout", None)
        if reply[0] == _MEMORY or not evaluator.alive():
            evaluator.stop()
        else:
            self._idle.put(evaluator)
        return reply


class _Evaluator:
    """One evaluator process and the parent's end of its pipe."""

    def __init__(self, context: Any, limits: QueryLimits) -> None:
        parent, child = context.Pipe()
        self._connection: Connection = parent
        self._process: BaseProcess = context.Process(
            target=serve,
            args=(child, limits.memory_mb, limits.timeout_ms),
            name="montemap-jsonata",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._ready = False

    def ask(self, request: Request, timeout_s: float) -> tuple[str, Any] | None:
        """The reply, ``None`` past ``timeout_s``; a dead evaluator reads as out of memory.

        A new evaluator is first waited for until it says it is ready, so the
        time limit counts the evaluation only.
        """
        if not self._ready:
            started = self._wait_ready()
            if started is not None:
                return started
        try:
            self._connection.send(request)
            if not self._connection.poll(timeout_s):
                return None
            reply: tuple[str, Any] = self._connection.recv()
        except (EOFError, OSError):
            return (_MEMORY, None)
        return reply

    def _wait_ready(self) -> tuple[str, Any] | None:
        """None once the new evaluator said it is ready, else the error that names why not."""
        try:
            if not self._connection.poll(STARTUP_TIMEOUT_S):
                return (_ERROR, (QUERY_EVALUATION_ERROR, "the JSONata evaluator did not start"))
            self._connection.recv()  # the evaluator's "ready"
        except (EOFError, OSError):
            self._process.join(1.0)
            return (_ERROR, (QUERY_EVALUATION_ERROR, startup_failure(self._process.exitcode)))
        self._ready = True
        return None

    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self) -> None:
        self._process.kill()
        self._process.join()
        self._connection.close()


def startup_failure(exitcode: int | None) -> str:
    """What to say when an evaluator process ended before it was ready."""
    how = "was killed" if exitcode is None or exitcode < 0 else f"exited with code {exitcode}"
    return (
        f"the JSONata evaluator process {how} before it started. Evaluators are started "
        "with multiprocessing's 'forkserver', which imports the program's main module: a "
        "program that runs montemap's engine in its own process must start it under "
        '`if __name__ == "__main__":`'
    )


def serve(connection: Connection, memory_mb: int, timeout_ms: int) -> None:
    """An evaluator process: answer requests until the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    _limit_address_space(memory_mb)
    connection.send((_READY, None))
    while True:
        try:
            request: Request = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply = _answer(request, timeout_ms)
            connection.send(reply)
        except MemoryError:
            connection.send((_MEMORY, None))
            return


def _answer(request: Request, timeout_ms: int) -> tuple[str, Any]:
    try:
        value = jsonata_query.evaluate_field(
            request.template,
            field=request.field,
            states=request.states,
            variables=request.variables,
            timeout_ms=timeout_ms,
        )
    except EvaluationError as error:
        if MEMORY_LIMIT_MESSAGE in (error.cause or ""):
            return (_MEMORY, None)
        return (_ERROR, (error.error, error.cause))
    return (_OK, value)


def _limit_address_space(memory_mb: int) -> None:
    """Cap this process's address space at what it maps now plus ``memory_mb`` MiB."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
    except OSError:  # not Linux: the time limit still holds
        return
    limit = pages * os.sysconf("SC_PAGE_SIZE") + memory_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _subject(request: Request) -> str:
    body = jsonata_query.expression_body(request.template)
    return f"The JSONata expression '{body}' specified for the field '{request.field}'"
