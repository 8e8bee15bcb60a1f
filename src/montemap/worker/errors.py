"""Worker-side errors: what a handler raises, and the names a worker reports.

A handler fails a task with a *name* and a *cause*, as ``SendTaskFailure``
takes them; the state's Retry and Catch match on the name. A handler chooses
the name by raising :class:`TaskFailure`; any other exception is reported
with its class name as the error (``ValueError``) and a JSON cause
(``errorMessage``, ``errorType``, ``stackTrace``), as AWS Lambda reports a
Python exception.

Names the worker itself reports:

``montemap.WorkerShutdown``
    The worker was stopped (SIGTERM, e.g. a Spot interruption) and the task
    did not finish within the grace period, or arrived while the worker was
    stopping. The work was not done and may simply be run again: list this
    name in the state's ``Retry`` so the task is retried at once instead of
    waiting for its heartbeat or timeout to lapse.
``montemap.InvalidTaskInput``
    The task input was not JSON text.
``montemap.InvalidTaskOutput``
    The handler returned a value that is not JSON (a set, NaN...) or whose
    JSON text is over the 256 KiB payload limit.
``montemap.TaskCancelled``
    The handler raised :class:`TaskCancelled` (``context.check_cancelled()``)
    after the task had timed out or its execution stopped. The service has
    normally stopped waiting by then, so the report is refused and logged.
"""

from __future__ import annotations

import json
import traceback

from montemap.errors import MontemapError

WORKER_SHUTDOWN = "montemap.WorkerShutdown"
INVALID_TASK_INPUT = "montemap.InvalidTaskInput"
INVALID_TASK_OUTPUT = "montemap.InvalidTaskOutput"
TASK_CANCELLED = "montemap.TaskCancelled"

#: SendTaskFailure limits (characters), from the Step Functions API reference.
MAX_ERROR_LENGTH = 256
MAX_CAUSE_LENGTH = 32768

_TRUNCATED = "... (truncated)"


class WorkerError(MontemapError):
    """A worker that cannot run: a bad option, a handler that does not load,
    an activity the service does not know."""


class TaskFailure(MontemapError):
    """Raise from a handler to fail the task with this error name and cause.

    ``raise TaskFailure("Credit.BadBatch", "3 loans had no balance")`` makes
    ``SendTaskFailure(error="Credit.BadBatch", cause=...)``, which the state's
    ``Retry``/``Catch`` can match by name.
    """

    def __init__(self, error: str, cause: str = "") -> None:
        if not isinstance(error, str) or not error:
            raise TypeError("TaskFailure needs an error name (a non-empty string)")
        if not isinstance(cause, str):
            raise TypeError(f"TaskFailure cause must be a string, not {type(cause).__name__}")
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class TaskCancelled(TaskFailure):
    """The task is no longer wanted: it timed out, its execution stopped, or the
    worker is shutting down. Raised by ``TaskContext.check_cancelled()``."""

    def __init__(self, reason: str, *, error: str = TASK_CANCELLED) -> None:
        super().__init__(error, reason)
        self.reason = reason


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED


def describe_exception(exc: BaseException, *, skip_frames: int = 0) -> tuple[str, str]:
    """The (error, cause) a worker reports for an exception its handler raised.

    ``skip_frames``: how many outermost frames are the caller's own (Lambda's runtime
    lists only the function's frames, none of its own).
    """
    if isinstance(exc, TaskFailure):
        return truncate(exc.error, MAX_ERROR_LENGTH), truncate(exc.cause, MAX_CAUSE_LENGTH)
    name = type(exc).__name__
    frames = traceback.format_tb(exc.__traceback__)[skip_frames:]
    cause = {"errorMessage": str(exc), "errorType": name, "stackTrace": frames}
    text = json.dumps(cause)
    while len(text) > MAX_CAUSE_LENGTH and cause["stackTrace"]:
        frames = frames[1:]  # keep the innermost frames
        cause["stackTrace"] = frames
        text = json.dumps(cause)
    if len(text) > MAX_CAUSE_LENGTH:
        cause["errorMessage"] = truncate(str(exc), MAX_CAUSE_LENGTH // 2)
        text = json.dumps(cause)
    return truncate(name, MAX_ERROR_LENGTH), truncate(text, MAX_CAUSE_LENGTH)
