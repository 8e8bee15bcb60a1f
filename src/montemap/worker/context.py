"""What a handler gets besides its input: :class:`TaskContext`.

A handler is ``handler(input, context) -> output``. The context lets it

* send a heartbeat now (``context.heartbeat()``; the worker also beats in the
  background, so this is only needed to report progress sooner),
* notice that the task is no longer wanted (``context.cancelled``,
  ``context.cancel_event``, ``context.check_cancelled()``, ``context.wait(s)``):
  the service said it timed out or its execution stopped, or the worker's
  shutdown grace period ran out,
* notice that the worker is stopping (``context.shutting_down``,
  ``context.shutdown_event``) and how long
  it has left (``context.remaining_grace()``), to finish or checkpoint early,
* log with the task's id attached (``context.logger``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from montemap.worker.errors import TaskCancelled


def task_id(token: str) -> str:
    """A short, non-secret id for a task token, for logs (the token itself
    grants the right to complete the task, so it is never logged)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class GracePeriod:
    """The worker's shutdown clock, shared by every task in hand.

    ``start(seconds)`` begins it (the first SIGTERM); ``start(0)`` again ends
    it at once (a second signal). Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self.event = threading.Event()

    def start(self, seconds: float) -> None:
        """Begin the grace period, or shorten a running one; never lengthens it."""
        deadline = time.monotonic() + max(seconds, 0.0)
        with self._lock:
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
        self.event.set()

    @property
    def started(self) -> bool:
        return self.event.is_set()

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None while no shutdown was requested."""
        with self._lock:
            if self._deadline is None:
                return None
            return max(self._deadline - time.monotonic(), 0.0)


class TaskContext:
    """The context of one task in hand. Handlers only read it and call its methods."""

    def __init__(
        self,
        *,
        task_token: str,
        activity_arn: str,
        worker_name: str,
        beat: Callable[[], bool],
        grace: GracePeriod | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.task_token = task_token
        self.task_id = task_id(task_token)
        self.activity_arn = activity_arn
        self.worker_name = worker_name
        self._beat = beat
        self._grace = grace or GracePeriod()
        self._cancel_reason: str | None = None
        self._cancel_error = ""
        self._lock = threading.Lock()
        #: Set when the task is no longer wanted; handlers may wait on it.
        self.cancel_event = threading.Event()
        base = logger or logging.getLogger("montemap.worker.handler")
        #: A logger whose records carry ``task_id`` and ``worker`` (JSON logs show them).
        self.logger = logging.LoggerAdapter(base, {"task_id": self.task_id, "worker": worker_name})

    # ------------------------------------------------------------------ heartbeats
    def heartbeat(self) -> bool:
        """Send a heartbeat now. False when the task is gone (it is then cancelled)."""
        if self.cancelled:
            return False
        return self._beat()

    # ------------------------------------------------------------------ cancellation
    @property
    def cancelled(self) -> bool:
        """Whether the task is no longer wanted; its result would be refused."""
        return self.cancel_event.is_set()

    @property
    def cancel_reason(self) -> str | None:
        """Why the task was cancelled, or None."""
        return self._cancel_reason

    def check_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` if the task was cancelled."""
        if self.cancelled:
            raise TaskCancelled(self._cancel_reason or "cancelled", **self._cancel_kwargs())

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancellation; True if cancelled."""
        return self.cancel_event.wait(max(seconds, 0.0))

    def cancel(self, reason: str, *, error: str = "") -> None:
        """Mark the task cancelled (the worker calls this; the first reason wins)."""
        with self._lock:
            if self._cancel_reason is None:
                self._cancel_reason = reason
                self._cancel_error = error
        self.cancel_event.set()

    def _cancel_kwargs(self) -> dict[str, str]:
        return {"error": self._cancel_error} if self._cancel_error else {}

    # ------------------------------------------------------------------ shutdown
    @property
    def shutting_down(self) -> bool:
        """Whether the worker was asked to stop (SIGTERM): finish or checkpoint now."""
        return self._grace.started

    @property
    def shutdown_event(self) -> threading.Event:
        """Set when the worker is asked to stop; handlers may wait on it."""
        return self._grace.event

    def remaining_grace(self) -> float | None:
        """Seconds left before the task is failed with ``montemap.WorkerShutdown``;
        None while the worker is not shutting down."""
        return self._grace.remaining()
