"""The activity worker: poll, run the handler, heartbeat, report; stop gracefully.

``Worker(handler, activity_arn=..., ...).run()`` runs ``concurrency`` tasks at
a time at most. Each slot is a thread that long-polls ``GetActivityTask`` and
runs the handler on what it gets, with its own background heartbeat. With
``poll_ahead`` and while its tasks are short, a slot sends its next poll when
a task starts, so the next task is in hand when the current one is reported
(:mod:`montemap.worker.poll_ahead`): a slot then holds two tasks at most, one
waiting. Threads suit both kinds of handler this project has: NumPy kernels release
the GIL, and I/O-bound handlers wait on sockets. A pure-Python CPU-bound
handler gets no parallel speed-up from ``concurrency > 1``; run more worker
processes instead (the worker service does).

Shutdown (SIGTERM or SIGINT, e.g. a Spot interruption): stop polling; fail
the tasks waiting in hand (not started) at once with ``montemap.WorkerShutdown``
(retryable); give the running ones ``shutdown_grace`` seconds to finish; then
fail the rest the same way rather than leaving them to time out. A second
signal ends the grace period immediately. A task that a poll still in flight
returns during shutdown is failed the same way.
"""

from __future__ import annotations

import logging
import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from montemap.arns import Arn
from montemap.worker.client import (
    ActivityTask,
    StepFunctionsCalls,
    TaskApi,
    describe_api_error,
    is_transient,
    make_client,
)
from montemap.worker.context import GracePeriod, TaskContext
from montemap.worker.errors import WORKER_SHUTDOWN, WorkerError
from montemap.worker.execution import Handler, InFlightTask
from montemap.worker.poll_ahead import PollAhead

log = logging.getLogger("montemap.worker")

#: Signals that stop the worker (the first starts the grace period, the next ends it).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: After the grace: how long handlers that honour the cancellation get to return.
CANCELLED_HANDLER_WAIT_S = 2.0

#: Poll ahead while a slot's last handler returned within this many seconds (0: never,
#: the default until a quiet host shows the gain; see docs/workers.md "Poll-ahead").
DEFAULT_POLL_AHEAD_S = 0.0

#: AWS limit on ``workerName``.
MAX_WORKER_NAME = 80

#: The most ``concurrency``: the pollers one activity takes at once (Step Functions
#: answers more with ``ActivityWorkerLimitExceeded``). Each slot is a thread or two: a
#: mistyped 100000 spent a minute starting threads, then died with "can't start new thread".
MAX_CONCURRENCY = 1000


def default_worker_name() -> str:
    """``<host>-<pid>``, which identifies the process in ActivityStarted events."""
    return f"{socket.gethostname()}-{os.getpid()}"[:MAX_WORKER_NAME]


#: What botocore accepts as a region name (``validate_region_name``): a DNS label.
_REGION_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


def check_region(region: str) -> None:
    """Refuse a region boto3 would refuse (it becomes part of a host name and of every
    signature), instead of polling an endpoint that cannot exist forever."""
    if not _REGION_NAME.fullmatch(region):
        raise WorkerError(
            f"region {region!r} is not a valid AWS region name"
            " (letters, digits and hyphens, such as us-east-1)"
        )


@dataclass
class WorkerStats:
    """Counts since the worker started."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0
    abandoned: int = 0
    api_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def _check_concurrency(concurrency: object) -> None:
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise WorkerError(
            f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {concurrency!r}"
        )


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkerError(f"{name} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        limit = ">= 0" if allow_zero else "> 0"
        raise WorkerError(f"{name} must be {limit}, got {value}")


class Worker:
    """Serves one activity with a handler. All durations are in seconds.

    Args:
        handler: ``handler(input, context) -> output``; see :mod:`montemap.worker.context`.
        activity_arn: the activity to poll.
        client: a Step Functions client (a boto3 one will do); by default the
            worker's own (:func:`montemap.worker.client.make_client`) is made with
            ``endpoint_url`` and ``region`` (the activity ARN's region unless given).
        worker_name: recorded in ActivityStarted events (default ``<host>-<pid>``).
        concurrency: tasks running at once, each in its own thread.
        heartbeat_interval: seconds between background heartbeats; keep it well
            below the state's ``HeartbeatSeconds`` (a third of it is a good value).
            None sends none (for states without HeartbeatSeconds).
        shutdown_grace: seconds the tasks in hand get to finish after SIGTERM.
        poll_ahead: a slot whose last handler returned within this many seconds
            polls for its next task while the current one runs; 0 or None: never.
        report_timeout: how long to keep retrying a result through API errors.
        backoff_base, backoff_cap: exponential back-off (full jitter) after API errors.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        activity_arn: str,
        client: StepFunctionsCalls | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        worker_name: str | None = None,
        concurrency: int = 1,
        heartbeat_interval: float | None = 10.0,
        shutdown_grace: float = 30.0,
        poll_ahead: float | None = DEFAULT_POLL_AHEAD_S,
        report_timeout: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if not callable(handler):
            raise WorkerError(f"the handler must be callable, not {type(handler).__name__}")
        arn = Arn.parse(activity_arn) if isinstance(activity_arn, str) else None
        if arn is None or arn.kind != "activity" or len(arn.parts) != 1:
            raise WorkerError(
                f"{activity_arn!r} is not an activity ARN "
                "(arn:aws:states:<region>:<account>:activity:<name>)"
            )
        _check_concurrency(concurrency)
        _positive("heartbeat_interval", heartbeat_interval)
        _positive("shutdown_grace", shutdown_grace, allow_zero=True)
        _positive("poll_ahead", poll_ahead, allow_zero=True)
        _positive("report_timeout", report_timeout, allow_zero=True)
        _positive("backoff_base", backoff_base)
        _positive("backoff_cap", backoff_cap)
        if backoff_cap < backoff_base:
            raise WorkerError(
                f"backoff_cap ({backoff_cap}) must be >= backoff_base ({backoff_base})"
            )
        name = worker_name if worker_name is not None else default_worker_name()
        if not name or len(name) > MAX_WORKER_NAME:
            raise WorkerError(f"worker_name must be 1-{MAX_WORKER_NAME} characters, got {name!r}")
        self.handler = handler
        self.activity_arn = activity_arn
        self.worker_name = name
        self.concurrency = concurrency
        self.heartbeat_interval = heartbeat_interval
        self.shutdown_grace = float(shutdown_grace)
        self.poll_ahead = float(poll_ahead or 0.0)
        self.log = logger or log
        #: Ends the own client's long polls at shutdown (a client given is left alone).
        self._end_polls: Callable[[], None] | None = None
        if client is None:
            check_region(region or arn.region)
            client = make_client(
                region=region or arn.region,
                endpoint_url=endpoint_url,
                max_connections=2 * concurrency + 2,
            )
            self._end_polls = getattr(client, "end_polls", None)  # boto3's (a proxy's): none
        self.api = TaskApi(
            client,
            report_timeout=report_timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            logger=self.log,
        )
        self.stats = WorkerStats()
        self.grace = GracePeriod()
        self.fatal: BaseException | None = None
        self._reason = "shutdown requested"
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_hand: dict[str, InFlightTask] = {}
        self._waiting: set[str] = set()  # tokens in hand whose handler has not started
        self._waker: Waker | None = None

    # ------------------------------------------------------------------ control
    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def in_hand(self) -> list[InFlightTask]:
        """The tasks being worked on now."""
        with self._lock:
            return list(self._in_hand.values())

    def request_shutdown(self, reason: str = "shutdown requested") -> None:
        """Stop polling and start the grace period; a second call ends it at once.

        Thread-safe. Signals reach it through :class:`Waker`, never directly.
        """
        again = self._stopping.is_set()
        self.grace.start(0.0 if again else self.shutdown_grace)
        if again:
            self.log.warning("%s again: failing the tasks in hand now", reason, extra=self._extra())
        else:
            self._reason = reason
            self.log.info(
                "stopping (%s): no more polling; %d task(s) in hand get %g s to finish",
                reason,
                len(self.in_hand()),
                self.shutdown_grace,
                extra=self._extra(),
            )
        self._stopping.set()
        if self._end_polls is not None:
            # As the process's exit would: the server cancels the polls, and the tasks
            # they would have brought wait for other workers instead of being failed.
            self._end_polls()
        with self._lock:  # a task received from now on sees the flag: it is failed at once
            waiting = [self._in_hand.pop(token) for token in self._waiting]
            self._waiting.clear()
        self._drop_waiting(waiting)
        self._wake()

    def _drop_waiting(self, tasks: list[InFlightTask]) -> None:
        """Fail tasks that waited in hand and never ran (the worker is stopping)."""
        for task in tasks:
            task.release()
            cause = (
                f"worker {self.worker_name} stopped ({self._reason}) before the task, "
                "which waited in hand, started"
            )
            if task.abandon(WORKER_SHUTDOWN, cause):
                self.stats.add(abandoned=1)
                self.log.warning(
                    "task waiting in hand failed with %s: the worker is stopping",
                    WORKER_SHUTDOWN,
                    extra=self._extra(task.task_id),
                )
            task.handler_finished.set()  # no handler will run

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Serve until shut down; 0 after a clean stop, 1 after a fatal error.

        Installs SIGTERM/SIGINT handlers when called from the main thread
        (unless told not to); from other threads, stop it with
        :meth:`request_shutdown`.
        """
        with Waker() as waker:
            self._waker = waker
            try:
                with _signals(waker, install_signal_handlers):
                    self.log.info(
                        "worker %s polling %s (concurrency %d, heartbeat every %s s)",
                        self.worker_name,
                        self.activity_arn,
                        self.concurrency,
                        self.heartbeat_interval,
                        extra=self._extra(),
                    )
                    for slot in range(self.concurrency):
                        threading.Thread(
                            target=self._slot_loop, name=f"worker-slot-{slot}", daemon=True
                        ).start()
                    self._serve(waker)
            finally:
                self._waker = None
        abandoned = self._abandon_in_hand()
        # Handlers that honour the cancellation get a moment to wind down (close
        # files, log) before the process exits; the others die with it (daemons).
        deadline = time.monotonic() + CANCELLED_HANDLER_WAIT_S
        for task in abandoned:
            task.handler_finished.wait(max(0.0, deadline - time.monotonic()))
        self.log.info("worker stopped: %s", self._stats_line(), extra=self._extra())
        return 1 if self.fatal is not None else 0

    def _serve(self, waker: Waker) -> None:
        """Wait for signals and task completions until stopped and drained."""
        while True:
            timeout: float | None = None
            if self._stopping.is_set():
                remaining = self.grace.remaining() or 0.0
                if remaining <= 0 or not self.in_hand():
                    return
                timeout = remaining
            for signum in waker.wait(timeout):
                if signum in STOP_SIGNALS:  # other handled signals also write to the fd
                    self.request_shutdown(signal.Signals(signum).name)

    def _abandon_in_hand(self) -> list[InFlightTask]:
        """Fail the tasks still in hand with ``montemap.WorkerShutdown``; returns them."""
        tasks = self.in_hand()
        for task in tasks:
            cause = (
                f"worker {self.worker_name} stopped ({self._reason}) and the task did not "
                f"finish within the {self.shutdown_grace:g} s grace period"
            )
            if task.abandon(WORKER_SHUTDOWN, cause):
                self.stats.add(abandoned=1)
                self.log.warning(
                    "task failed with %s: not finished within the grace period",
                    WORKER_SHUTDOWN,
                    extra=self._extra(task.task_id),
                )
        return tasks

    def _wake(self) -> None:
        waker = self._waker
        if waker is not None:
            waker.wake()

    def _extra(self, task_id: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"worker": self.worker_name}
        if task_id is not None:
            extra["task_id"] = task_id
        return extra

    # ------------------------------------------------------------------ slots
    def _slot_loop(self) -> None:
        backoff = self.api.backoff()
        ahead: PollAhead[InFlightTask] | None = None
        if self.poll_ahead > 0:
            ahead = PollAhead(self._poll_task, f"{threading.current_thread().name}-ahead")
        last_seconds: float | None = None  # how long the slot's last handler ran
        while not self._stopping.is_set():
            self.log.debug("polling for a task", extra=self._extra())
            try:
                task = ahead.take() if ahead is not None and ahead.pending else self._poll_task()
            except (ClientError, BotoCoreError) as exc:
                if self._stopping.is_set():
                    return  # the poll was ended by the shutdown (or failed meanwhile): done
                self.stats.add(api_errors=1)
                if not is_transient(exc):
                    self._fail_fatally(exc)
                    return
                delay = backoff.next_delay()
                self.log.warning(
                    "GetActivityTask failed (%s); retrying in %.2f s",
                    describe_api_error(exc),
                    delay,
                    extra={"worker": self.worker_name},
                )
                self._stopping.wait(delay)
                continue
            except Exception as exc:  # a bug or an unexpected reply: stop rather than spin
                self._fail_fatally(exc)
                return
            backoff.reset()
            if task is None:
                continue
            quick = last_seconds is not None and last_seconds < self.poll_ahead
            if ahead is not None and quick and not self._stopping.is_set():
                ahead.start()
            self._work(task)
            last_seconds = task.handler_seconds

    def _poll_task(self) -> InFlightTask | None:
        """One GetActivityTask; the task it brought, now in hand (None: none came, or it
        came during shutdown and was failed). Raises the poll's errors."""
        received = self.api.poll(self.activity_arn, self.worker_name)
        return None if received is None else self._receive(received)

    def _fail_fatally(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.log.error(
            "cannot poll %s: %s",
            self.activity_arn,
            describe_api_error(exc, self.api.client),
            extra={"worker": self.worker_name},
        )
        self.request_shutdown("fatal error")

    def _receive(self, received: ActivityTask) -> InFlightTask | None:
        """Put a task in hand, waiting to run, with its heartbeats running; a task that
        arrives while the worker stops is failed at once (None)."""
        context = TaskContext(
            task_token=received.token,
            activity_arn=self.activity_arn,
            worker_name=self.worker_name,
            beat=lambda: task.beat(),
            grace=self.grace,
        )
        task = InFlightTask(
            token=received.token,
            raw_input=received.input,
            reporter=self.api,
            context=context,
            heartbeat_interval=self.heartbeat_interval,
            logger=self.log,
        )
        self.stats.add(received=1)
        extra: dict[str, Any] = {"task_id": task.task_id, "worker": self.worker_name}
        with self._lock:  # check and register together: shutdown sees the task or we see it
            late = self._stopping.is_set()
            if not late:
                self._in_hand[received.token] = task
                self._waiting.add(received.token)
                task.hold()
        if late:
            cause = f"worker {self.worker_name} was stopping ({self._reason}) when the task arrived"
            task.abandon(WORKER_SHUTDOWN, cause)
            self.stats.add(abandoned=1)
            self.log.warning(
                "task arrived during shutdown; failed with %s", WORKER_SHUTDOWN, extra=extra
            )
            return None
        self.log.info("task received", extra=extra)
        return task

    def _work(self, task: InFlightTask) -> None:
        """Run a task in hand and report it, unless shutdown failed it while it waited."""
        with self._lock:
            if task.token not in self._waiting:
                return  # failed by request_shutdown while it waited
            self._waiting.discard(task.token)
        try:
            outcome = task.run(self.handler)
            if task.outcome is outcome:
                self.stats.add(**({"succeeded": 1} if outcome.succeeded else {"failed": 1}))
        finally:
            with self._lock:
                self._in_hand.pop(task.token, None)
            # Only a draining main thread waits for tasks to finish: it checks the
            # tasks in hand after setting the flag, and this check follows the pop.
            if self._stopping.is_set():
                self._wake()

    def _stats_line(self) -> str:
        s = self.stats
        return (
            f"{s.received} received, {s.succeeded} succeeded, {s.failed} failed, "
            f"{s.abandoned} failed at shutdown, {s.api_errors} API errors"
        )


class Waker:
    """A socket pair the main thread waits on: signals (via ``signal.set_wakeup_fd``)
    and other threads (:meth:`wake`) write to it, so no lock is ever taken in a
    signal handler."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)

    def fileno(self) -> int:
        return self._write.fileno()

    def wake(self) -> None:
        """Wake the waiting thread (safe from any thread)."""
        try:
            self._write.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already full of wake-ups, or closed: nothing to wake

    def wait(self, timeout: float | None) -> list[int]:
        """Block until woken or ``timeout``; the signal numbers received (0s dropped)."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return []
        try:
            data = self._read.recv(4096)
        except BlockingIOError:
            return []
        return [b for b in data if b]

    def close(self) -> None:
        self._read.close()
        self._write.close()

    def __enter__(self) -> Waker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _signals(waker: Waker, install: bool) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``waker`` while the worker runs (main thread only)."""
    if not install or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ignore(signum: int, frame: FrameType | None) -> None:
        """The wake-up fd carries the signal; the handler itself does nothing."""

    previous_fd = signal.set_wakeup_fd(waker.fileno(), warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, ignore) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(previous_fd)
