"""Unit-test activity handlers without a server.

``run_handler(handler, input)`` runs a handler exactly as the worker does
(same input parsing, same background heartbeats, same error names and causes)
against a recording fake of the Step Functions API, and returns a
:class:`HandlerResult`: what the execution would see, plus the heartbeats
sent and the records the handler logged.

It can also play the service's and the worker's parts:

* ``heartbeat_seconds`` / ``timeout_seconds``: the state's HeartbeatSeconds
  and TimeoutSeconds. When one lapses the task times out (``States.Timeout``)
  and the handler's context is cancelled at its next heartbeat.
* ``shutdown_after`` / ``shutdown_grace``: a SIGTERM that many seconds in;
  the handler sees ``context.shutting_down`` and, if it does not finish within
  the grace period, the task fails with ``montemap.WorkerShutdown``.

Example::

    from montemap.worker.testing import run_handler

    def test_doubles():
        result = run_handler(my_handler, {"x": 2})
        assert result.succeeded and result.output == {"x": 4}
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from montemap.errors import TIMEOUT
from montemap.worker.context import GracePeriod, TaskContext
from montemap.worker.errors import WORKER_SHUTDOWN, TaskFailure
from montemap.worker.execution import Handler, InFlightTask, Outcome

TEST_ACTIVITY_ARN = "arn:aws:states:us-east-1:123456789012:activity:test-activity"


@dataclass
class HandlerResult:
    """What running a handler once produced.

    ``output``/``error``/``cause`` are what the execution would see:
    ``error`` is ``States.Timeout`` when the task timed out, and
    ``montemap.WorkerShutdown`` when the grace period ran out.
    ``handler_outcome`` is what the handler itself produced, even when the
    service no longer took it (None if it never returned).
    """

    output: Any = None
    output_json: str | None = None
    error: str | None = None
    cause: str | None = None
    heartbeats: list[float] = field(default_factory=list)
    timed_out: bool = False
    cancelled: bool = False
    cancel_reason: str | None = None
    handler_outcome: Outcome | None = None
    duration: float = 0.0
    logs: list[logging.LogRecord] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.output_json is not None

    @property
    def handler_finished(self) -> bool:
        """Whether the handler returned (or raised) before the harness gave up on it."""
        return self.handler_outcome is not None

    def cause_json(self) -> Any:
        """The cause parsed as JSON (exceptions are reported with a JSON cause)."""
        return json.loads(self.cause or "null")

    def raise_for_failure(self) -> None:
        """Raise :class:`TaskFailure` with the error and cause if the task failed."""
        if not self.succeeded:
            raise TaskFailure(self.error or "(no result)", self.cause or "")


class FakeTaskApi:
    """Stands in for Step Functions: records calls and applies the timeouts."""

    def __init__(
        self, *, heartbeat_seconds: float | None = None, timeout_seconds: float | None = None
    ) -> None:
        self.started = time.monotonic()
        self.heartbeat_seconds = heartbeat_seconds
        self.timeout_seconds = timeout_seconds
        self.heartbeats: list[float] = []
        self.result: Outcome | None = None
        self.timed_out = False
        self._last_beat = self.started
        self._lock = threading.Lock()

    def lapse_at(self) -> float | None:
        """When (monotonic) the task times out unless it beats or finishes first."""
        limits = []
        if self.heartbeat_seconds is not None:
            limits.append(self._last_beat + self.heartbeat_seconds)
        if self.timeout_seconds is not None:
            limits.append(self.started + self.timeout_seconds)
        return min(limits) if limits else None

    def check_lapse(self, now: float) -> bool:
        """Time the task out if a limit passed; whether it is gone."""
        with self._lock:
            if self.result is None and not self.timed_out:
                lapse = self.lapse_at()
                if lapse is not None and now >= lapse:
                    self.timed_out = True
            return self.timed_out

    def heartbeat(self, token: str) -> bool:
        now = time.monotonic()
        if self.check_lapse(now):
            return False
        with self._lock:
            self.heartbeats.append(now - self.started)
            self._last_beat = now
        return True

    def succeed(self, token: str, output: str) -> bool:
        return self._finish(Outcome(output=output))

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._finish(Outcome(error=error, cause=cause))

    def _finish(self, outcome: Outcome) -> bool:
        if self.check_lapse(time.monotonic()):
            return False
        with self._lock:
            if self.result is not None:
                return False
            self.result = outcome
            return True


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _capture(logger: logging.Logger) -> Iterator[_Records]:
    records = _Records()
    old_level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(records)
        logger.setLevel(old_level)


def run_handler(
    handler: Handler,
    input: Any = None,
    *,
    raw_input: str | None = None,
    heartbeat_interval: float | None = None,
    heartbeat_seconds: float | None = None,
    timeout_seconds: float | None = None,
    shutdown_after: float | None = None,
    shutdown_grace: float = 30.0,
    linger: float = 5.0,
    activity_arn: str = TEST_ACTIVITY_ARN,
    worker_name: str = "test-worker",
) -> HandlerResult:
    """Run ``handler`` on one task and return what happened. Durations in seconds.

    Args:
        input: the task input as a JSON value (``raw_input``: as JSON text instead).
        heartbeat_interval: background heartbeats, as the worker's option; None: none.
        heartbeat_seconds, timeout_seconds: the state's limits (see the module doc).
        shutdown_after, shutdown_grace: simulate SIGTERM (see the module doc).
        linger: how long to wait, once the result is decided, for a handler that
            was cancelled to return; it is left running (a daemon thread) after that.
    """
    if raw_input is None:
        raw_input = json.dumps(input, allow_nan=False)
    for name, value, zero_ok in (
        ("heartbeat_interval", heartbeat_interval, False),
        ("heartbeat_seconds", heartbeat_seconds, False),
        ("timeout_seconds", timeout_seconds, False),
        ("shutdown_after", shutdown_after, True),
        ("shutdown_grace", shutdown_grace, True),
        ("linger", linger, True),
    ):
        if value is not None and (value < 0 or (value == 0 and not zero_ok)):
            raise ValueError(f"{name} must be {'>= 0' if zero_ok else '> 0'}, got {value}")
    api = FakeTaskApi(heartbeat_seconds=heartbeat_seconds, timeout_seconds=timeout_seconds)
    grace = GracePeriod()
    logger = logging.getLogger(f"montemap.worker.test.{uuid.uuid4().hex[:8]}")
    with _capture(logger) as records:
        token = f"test-token-{uuid.uuid4().hex}"
        context = TaskContext(
            task_token=token,
            activity_arn=activity_arn,
            worker_name=worker_name,
            beat=lambda: task.beat(),
            grace=grace,
            logger=logger,
        )
        task = InFlightTask(
            token=token,
            raw_input=raw_input,
            reporter=api,
            context=context,
            heartbeat_interval=heartbeat_interval,
            logger=logger,
        )
        runner = threading.Thread(
            target=task.run, args=(handler,), name="handler-under-test", daemon=True
        )
        runner.start()
        _supervise(task, api, grace, shutdown_after, shutdown_grace)
        if task.handler_finished.wait(linger):
            task.done.wait(linger)
        return HandlerResult(
            output=json.loads(api.result.output) if api.result and api.result.output else None,
            output_json=api.result.output if api.result else None,
            error=TIMEOUT if api.timed_out else (api.result.error if api.result else None),
            cause=None if api.timed_out else (api.result.cause if api.result else None),
            heartbeats=list(api.heartbeats),
            timed_out=api.timed_out,
            cancelled=context.cancelled,
            cancel_reason=context.cancel_reason,
            handler_outcome=task.handler_outcome,
            duration=time.monotonic() - api.started,
            logs=list(records.records),
        )


def _supervise(
    task: InFlightTask,
    api: FakeTaskApi,
    grace: GracePeriod,
    shutdown_after: float | None,
    shutdown_grace: float,
) -> None:
    """Play the service and the worker until the task's result is decided."""
    shutdown_at = None if shutdown_after is None else api.started + shutdown_after
    while not task.done.is_set():
        now = time.monotonic()
        if shutdown_at is not None and now >= shutdown_at:
            grace.start(shutdown_grace)
            shutdown_at = None
        remaining = grace.remaining()
        if remaining is not None and remaining <= 0:
            task.abandon(WORKER_SHUTDOWN, "worker test-worker stopped (simulated SIGTERM)")
            return
        if api.check_lapse(now):
            return
        wakes = [t for t in (shutdown_at, api.lapse_at()) if t is not None]
        if remaining is not None:
            wakes.append(now + remaining)
        task.done.wait(max(min(wakes) - now, 0.0) if wakes else None)
