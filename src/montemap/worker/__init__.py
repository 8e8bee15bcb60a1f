"""montemap.worker: the activity-worker library, for any host that runs handlers.

A handler is ``handler(input, context) -> output``; run it with
:class:`Worker` (or ``montemap worker``) against montemap or AWS, and
unit-test it with :func:`montemap.worker.testing.run_handler`. Importing this
package loads neither the engine, the APIs nor the local ECS (:mod:`montemap.ecs`).
"""

from montemap.worker.context import GracePeriod, TaskContext
from montemap.worker.errors import (
    INVALID_TASK_INPUT,
    INVALID_TASK_OUTPUT,
    TASK_CANCELLED,
    WORKER_SHUTDOWN,
    TaskCancelled,
    TaskFailure,
    WorkerError,
)
from montemap.worker.execution import Handler, Outcome
from montemap.worker.worker import Worker

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
