"""Helpers for the worker service tests (this module holds no tests).

Every manager these helpers open is closed (its process groups killed) even
when a test fails; commands are trivial Python processes so the tests do not
depend on the worker's code.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from montemap.ecs.capacity import Capacity
from montemap.ecs.cgroups import CgroupManager
from montemap.ecs.service import Backoff, ServiceManager
from montemap.ecs.taskdefs import EcsStore, TaskDefinition, TaskRecord
from montemap.engine.db import Database

PY = sys.executable
SLEEPER = [PY, "-c", "import time; time.sleep(600)"]
#: Says "ready" once SIGTERM is ignored, then sleeps.
STUBBORN = [
    PY,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(600)",
]
CRASHER = [PY, "-c", "import sys; sys.exit(3)"]
FAST_BACKOFF = Backoff(base=0.2, maximum=0.4, stable_after=5.0)


def container(command: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": "none", "command": command, **extra}


def register(
    store: EcsStore,
    family: str,
    command: list[str],
    *,
    cpu: str | None = None,
    memory: str | None = None,
    **container_extra: Any,
) -> TaskDefinition:
    body: dict[str, Any] = {
        "family": family,
        "containerDefinitions": [container(command, **container_extra)],
    }
    if cpu is not None:
        body["cpu"] = cpu
    if memory is not None:
        body["memory"] = memory
    return store.register_task_definition(body)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def wait_for(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll a condition (for things the manager does not signal, like process exits)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {timeout} s: {what}")
        await asyncio.sleep(0.02)


def live_tasks(store: EcsStore, service: str, cluster: str = "default") -> list[TaskRecord]:
    return [
        t
        for t in store.tasks(cluster=cluster, service=service, live=True)
        if t.desired_status == "RUNNING"
    ]


def running(
    manager: ServiceManager, service: str, count: int, cluster: str = "default"
) -> Callable[[], bool]:
    """A predicate: the service has exactly ``count`` RUNNING tasks and nothing else live."""

    def check() -> bool:
        tasks = manager.store.tasks(cluster=cluster, service=service, live=True)
        return len(tasks) == count and all(t.last_status == "RUNNING" for t in tasks)

    return check


def private_cgroup_parent() -> str:
    """A parent group name private to one test."""
    return f"montemap-test-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def open_manager(
    path: Path,
    *,
    cgroups: CgroupManager | None = None,
    variables: dict[str, str | None] | None = None,
    stop_grace: float = 5.0,
    backoff: Backoff | None = None,
    log_dir: Path | None = None,
    capacity: Capacity | None = None,
) -> AsyncIterator[ServiceManager]:
    """A started manager on the database at ``path`` (with the ``default`` cluster)."""
    db = Database(path)
    store = EcsStore(db)
    store.register_predefined()
    manager = ServiceManager(
        store,
        cgroups=cgroups,
        variables=variables,
        stop_grace=stop_grace,
        backoff=backoff or FAST_BACKOFF,
        log_dir=log_dir,
        capacity=capacity,
    )
    await manager.start()
    try:
        yield manager
    finally:
        await manager.close(grace=2.0)
        db.close()


def kill_quietly(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
