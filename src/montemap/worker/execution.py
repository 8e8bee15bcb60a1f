"""One task in hand: run the handler, beat in the background, report once.

The worker and the test harness (:mod:`montemap.worker.testing`) both run
tasks through :class:`InFlightTask`, so a handler behaves the same under both.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from montemap.worker.context import TaskContext
from montemap.worker.errors import (
    INVALID_TASK_INPUT,
    INVALID_TASK_OUTPUT,
    describe_exception,
)
from montemap.worker.heartbeats import HEARTBEATS

#: A handler: ``handler(input, context) -> output`` (input and output JSON values).
Handler = Callable[[Any, TaskContext], Any]

#: The Step Functions payload limit (bytes of UTF-8 JSON).
MAX_OUTPUT_BYTES = 262144

log = logging.getLogger("montemap.worker")


class TaskReporter(Protocol):
    """The three calls a task in hand makes (:class:`montemap.worker.client.TaskApi`)."""

    def heartbeat(self, token: str) -> bool:
        """Send a heartbeat; False when the task is gone."""
        ...

    def succeed(self, token: str, output: str) -> bool:
        """Report success; whether the service accepted it."""
        ...

    def fail(self, token: str, error: str, cause: str) -> bool:
        """Report failure; whether the service accepted it."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What a handler produced: JSON output, or an error name and cause."""

    output: str | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def outcome_of(handler: Handler, raw_input: str, context: TaskContext) -> Outcome:
    """Parse the input, call the handler, serialise its result; never raises."""
    try:
        value = json.loads(raw_input)
    except (TypeError, ValueError) as exc:
        return Outcome(error=INVALID_TASK_INPUT, cause=f"the task input is not JSON text: {exc}")
    try:
        result = handler(value, context)
    except BaseException as exc:  # a handler's failure, whatever it is, becomes the report
        error, cause = describe_exception(exc, skip_frames=1)  # not this function's frame
        return Outcome(error=error, cause=cause)
    try:
        output = json.dumps(result, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        cause = f"the handler returned a value that is not JSON: {exc}"
        return Outcome(error=INVALID_TASK_OUTPUT, cause=cause)
    size = len(output.encode())
    if size > MAX_OUTPUT_BYTES:
        cause = (
            f"the handler's output is {size} bytes of JSON, over the {MAX_OUTPUT_BYTES}-byte "
            "payload limit; write large results to the object store and return their keys"
        )
        return Outcome(error=INVALID_TASK_OUTPUT, cause=cause)
    return Outcome(output=output)


class InFlightTask:
    """A task from receipt to its one report.

    :meth:`run` runs the handler with a background heartbeat every
    ``heartbeat_interval`` seconds and reports its outcome. :meth:`abandon`
    reports a failure from another thread (the shutdown grace ran out); the
    handler's later result is then dropped. Whichever comes first is reported.
    """

    def __init__(
        self,
        *,
        token: str,
        raw_input: str,
        reporter: TaskReporter,
        context: TaskContext,
        heartbeat_interval: float | None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.token = token
        self.raw_input = raw_input
        self.reporter = reporter
        self.context = context
        self.heartbeat_interval = heartbeat_interval
        self.log = logger or log
        self.received_at = time.monotonic()
        #: What was reported (the handler's outcome, or the failure from abandoning it).
        self.outcome: Outcome | None = None
        #: What the handler produced, once it returned.
        self.handler_outcome: Outcome | None = None
        self.handler_finished = threading.Event()
        #: How long the handler ran (seconds), once it returned.
        self.handler_seconds: float | None = None
        self._held = False
        self._settled = False
        self._lock = threading.Lock()
        self._stop_beats = threading.Event()
        #: Set once the outcome was reported (or the report attempt failed).
        self.done = threading.Event()

    @property
    def task_id(self) -> str:
        return self.context.task_id

    def beat(self) -> bool:
        """Send one heartbeat; cancels the context when the task is gone."""
        if self._stop_beats.is_set():
            return not self.context.cancelled
        alive = self.reporter.heartbeat(self.token)
        if not alive:
            self.context.cancel(
                "the service no longer waits for this task: it timed out, or its execution stopped"
            )
        return alive

    def hold(self) -> None:
        """Start the background heartbeats now: the task waits in hand before it runs."""
        if self.heartbeat_interval is not None and not self._held:
            self._held = True
            HEARTBEATS.start(self, self.heartbeat_interval)

    def release(self) -> None:
        """Stop the heartbeats of a task that will not run; returns once none is in flight."""
        self._stop_beats.set()
        if self.heartbeat_interval is not None:
            HEARTBEATS.stop(self)

    def run(self, handler: Handler) -> Outcome:
        """Run the handler and report its outcome (unless already abandoned).

        Heartbeats come from the process's scheduler
        (:mod:`montemap.worker.heartbeats`), not from a thread of this task's;
        they run from :meth:`hold` on if the task waited in hand."""
        interval = self.heartbeat_interval
        if interval is not None and not self._held:
            HEARTBEATS.start(self, interval)
        try:
            started = time.monotonic()
            outcome = outcome_of(handler, self.raw_input, self.context)
            self.handler_seconds = time.monotonic() - started
            self.handler_outcome = outcome
            self.handler_finished.set()
        finally:
            self._stop_beats.set()
            if interval is not None:
                HEARTBEATS.stop(self)  # returns once no beat of this task is in flight
        self.settle(outcome)
        return outcome

    def abandon(self, error: str, cause: str) -> bool:
        """Cancel the handler and fail the task now; False if it was already reported."""
        self.context.cancel(cause, error=error)
        return self.settle(Outcome(error=error, cause=cause))

    def settle(self, outcome: Outcome) -> bool:
        """Report ``outcome`` if nothing was reported yet; True if this call did."""
        with self._lock:
            if self._settled:
                return False
            self._settled = True
            self.outcome = outcome
        self._stop_beats.set()
        seconds = time.monotonic() - self.received_at
        extra = {"task_id": self.task_id, "duration_s": round(seconds, 3)}
        try:
            if outcome.output is not None:
                accepted = self.reporter.succeed(self.token, outcome.output)
                if accepted:
                    self.log.info("task succeeded in %.3f s", seconds, extra=extra)
            else:
                accepted = self.reporter.fail(self.token, outcome.error or "", outcome.cause or "")
                if accepted:
                    self.log.info("task failed in %.3f s: %s", seconds, outcome.error, extra=extra)
        except Exception as exc:  # the service refused or stayed unreachable: nothing else to do
            self.log.error("could not report the task's result: %s", exc, extra=extra)
        finally:
            self.done.set()
        return True
