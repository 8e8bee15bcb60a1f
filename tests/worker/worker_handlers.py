"""Handlers the worker tests run in real ``montemap worker`` processes.

Each writes ``<input.marker_dir>/<name>-<pid>-<input.value>`` when it starts, so a test can
wait for "the handler is running" without sleeping.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from montemap.worker import TaskContext, TaskFailure


def _mark(event: dict[str, Any], name: str) -> None:
    marker_dir = event.get("marker_dir")
    if marker_dir:
        path = Path(marker_dir, f"{name}-{os.getpid()}-{event.get('value')}")
        path.write_text(str(os.getpid()))


def hold(event: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Hold the task ``WORKER_TEST_HOLD`` seconds (env, default 0), then echo.

    Waits on the context, so cancellation ends the wait early.
    """
    _mark(event, "started")
    seconds = float(os.environ.get("WORKER_TEST_HOLD", "0"))
    cancelled = context.wait(seconds)
    _mark(event, "cancelled" if cancelled else "finished")
    return {"pid": os.getpid(), "value": event.get("value"), "shutting_down": context.shutting_down}


def hold_stubbornly(event: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Like :func:`hold` but ignores cancellation (a handler that never checks)."""
    _mark(event, "started")
    time.sleep(float(os.environ.get("WORKER_TEST_HOLD", "0")))
    return {"pid": os.getpid()}


def fail_named(event: dict[str, Any], context: TaskContext) -> None:
    """Fail with the error name and cause the input names."""
    raise TaskFailure(event["error"], event.get("cause", ""))


def crash(event: dict[str, Any], context: TaskContext) -> None:
    """Raise an ordinary exception."""
    raise ValueError(f"bad value {event.get('value')!r}")


def log_and_echo(event: dict[str, Any], context: TaskContext) -> Any:
    context.logger.info("handling value %s", event.get("value"))
    return event


def blas_threads(event: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """The worker's ``OPENBLAS_NUM_THREADS`` and each loaded OpenBLAS's thread count."""
    import numpy as np

    from montemap.credit.reduce_blas import _controls

    np.ones((64, 64)) @ np.ones((64, 64))  # a product: the BLAS is loaded and used
    return {
        "variable": os.environ.get("OPENBLAS_NUM_THREADS"),
        "threads": [int(get()) for _, get in _controls()],
    }
