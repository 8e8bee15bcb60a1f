"""montemap.workers: activity workers, their handler harness, and the worker service.

A handler is ``handler(input, context) -> output``; run it with
:class:`Worker` (or ``montemap worker``) and unit-test it with
:func:`montemap.workers.testing.run_handler`.
"""

from montemap.workers.context import GracePeriod, TaskContext
from montemap.workers.errors import (
    INVALID_TASK_INPUT,
    INVALID_TASK_OUTPUT,
    TASK_CANCELLED,
    WORKER_SHUTDOWN,
    TaskCancelled,
    TaskFailure,
    WorkerError,
)
from montemap.workers.execution import Handler, Outcome
from montemap.workers.worker import Worker

__all__ = [
    "INVALID_TASK_INPUT",
    "INVALID_TASK_OUTPUT",
    "TASK_CANCELLED",
    "WORKER_SHUTDOWN",
    "GracePeriod",
    "Handler",
    "Outcome",
    "TaskCancelled",
    "TaskContext",
    "TaskFailure",
    "Worker",
    "WorkerError",
]
