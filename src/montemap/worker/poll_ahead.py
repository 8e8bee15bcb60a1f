"""A slot's next GetActivityTask, sent while its current task runs.

A worker slot used to poll only after reporting its task: from the handler's
return to the next task's input, the slot waited for two round trips
(SendTaskSuccess, then GetActivityTask) and the server's work on both, with the
core its task may use idle (a ``small`` task is held to a quarter of a core, so
what it does not use meanwhile is lost). With poll-ahead the slot's next poll is
sent when a task starts, by a thread of the slot's own; the task it brings waits
in hand (heartbeats running, as for any task in hand) until the current one is
reported, and starts at once. The protocol is unchanged: one task per
GetActivityTask, every task heartbeated and reported once; a slot just holds at
most two tasks, one of them waiting.

A waiting task is a task another worker could have run, so the slot polls ahead
only while its tasks are short (the last one's handler returned within
``poll_ahead`` seconds): the wait it can add to a task is then that short, and
the round trips it saves are a fair share of each task. It is off unless asked
for (``--poll-ahead``, ``MONTEMAP_WORKER_POLL_AHEAD``): on a loaded 2-core host
it took the gaps out of a 500,000-loan run without a wall-time gain that could be
told from the noise (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from montemap import option_types
from montemap.worker.errors import WorkerError

#: Overrides ``--poll-ahead``'s default (a task definition's command need not change).
VARIABLE = "MONTEMAP_WORKER_POLL_AHEAD"


def seconds_value(text: str) -> float:
    """A finite number of seconds, 0 or more, in ASCII digits; ``ValueError`` saying why
    otherwise (``float`` also reads ``1_0`` and ``١``: refused; ``inf`` and ``nan`` are
    refused by the range check, which says it)."""
    if not option_types.is_number_text(text.strip()):
        raise ValueError(f"{text!r} is not a number of seconds (ASCII digits 0-9)")
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{text!r} must be a finite number of seconds >= 0")
    return value


def poll_ahead_setting(env: Mapping[str, str] | None = None) -> float | None:
    """The seconds :data:`VARIABLE` sets (``None`` where unset); a bad value is a
    :class:`WorkerError` naming the variable."""
    text = (os.environ if env is None else env).get(VARIABLE)
    if text is None:
        return None
    try:
        return seconds_value(text)
    except ValueError as exc:
        raise WorkerError(f"{VARIABLE}: {exc}") from None


T = TypeVar("T")


class PollAhead(Generic[T]):
    """Runs ``poll`` on a thread of its own when :meth:`start` asks; :meth:`take`
    waits for that poll's result (its value, or the exception it raised).

    One poll at a time: :meth:`start` is called only after the previous poll's
    result was taken. The thread is a daemon: a long poll still in flight when the
    worker exits is dropped with it (the task it may bring is then failed or
    timed out by the service, as for a poll in flight on the slot's own thread).
    """

    def __init__(self, poll: Callable[[], T | None], name: str) -> None:
        self._poll = poll
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._wanted = False
        self._result: tuple[T | None, BaseException | None] | None = None
        self._thread: threading.Thread | None = None
        #: Whether a poll was started and its result not taken yet.
        self.pending = False

    def start(self) -> None:
        """Send the next poll now, in the background."""
        with self._cond:
            if self.pending:
                raise RuntimeError("a poll ahead is already pending")
            self.pending = True
            self._wanted = True
            self._result = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def take(self) -> T | None:
        """The started poll's value once it returned; raises what it raised."""
        with self._cond:
            while self._result is None:
                self._cond.wait()
            value, error = self._result
            self._result = None
            self.pending = False
        if error is not None:
            raise error
        return value

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wanted:
                    self._cond.wait()
                self._wanted = False
            try:
                result: tuple[T | None, BaseException | None] = (self._poll(), None)
            except BaseException as exc:  # handed to the slot, which sorts it as its own poll's
                result = (None, exc)
            with self._cond:
                self._result = result
                self._cond.notify()
