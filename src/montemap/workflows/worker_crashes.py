"""Worker tasks that exit as they start: ``montemap run`` stops instead of waiting for ever.

The worker service replaces a task that exits, as ECS does, after a growing delay. When
every task exits at once (a broken environment, a handler that cannot be imported), no
batch is ever taken and ``run`` used to wait at "workers 0/N" with the cause only in the
tasks' log files. Like ECS's deployment circuit breaker, :func:`crash_loop` looks at the
service's tasks that stopped since the run began: when the last :data:`LIMIT` of them
each exited with an error code within :data:`QUICK_S` seconds of starting, the run stops
and says so, with the last task's exit code and its output's last line. A task killed
by a signal (a negative exit code, or 128 + the signal) does not count: that is someone
stopping workers, which the service's replacements recover from.

Tasks that can never be placed (a task definition needing more CPU or memory than the
host has in all: a ``--server`` started with a small ``--capacity-cpu``, a larger
revision of ``small`` registered on the data directory) would leave ``run`` waiting at
"workers 0/N" too: :func:`unplaceable` finds the service's event that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from montemap.workflows import bindings

#: Tasks in a row that must have exited as they started.
LIMIT = 5
#: Seconds after its start within which a task's exit counts as "as it started".
QUICK_S = 10.0
#: What the worker service's event says of a task larger than the host's whole capacity
#: (``montemap.ecs.service``): it will never start.
WHOLE_CAPACITY = "more than the host's whole capacity"


@dataclass(frozen=True)
class CrashLoop:
    """The last of the tasks that exited as they started."""

    task_id: str
    exit_code: int
    reason: str

    def message(self, log_dir: Path | None) -> str:
        """One line for the user: what happened, and the last task's last output line."""
        text = (
            f"the worker tasks exit as they start ({LIMIT} in a row; the last, {self.task_id}, "
            f"with exit code {self.exit_code})"
        )
        if log_dir is None:
            return f"{text}: see the worker tasks' logs"
        log = log_dir / bindings.CLUSTER / f"{self.task_id}.log"
        last = _last_line(log)
        return f"{text}; {log}: {last}" if last else f"{text}: see {log}"


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def _quick_error_exit(task: dict[str, Any]) -> bool:
    """Whether a stopped task exited with an error code within ``QUICK_S`` of its start."""
    codes = [c.get("exitCode") for c in task.get("containers", [])]
    code = codes[0] if codes else None
    started: datetime | None = task.get("startedAt")
    stopped: datetime | None = task.get("stoppedAt")
    if not isinstance(code, int) or not 0 < code < 128 or started is None or stopped is None:
        return False
    return (stopped - started).total_seconds() < QUICK_S


def crash_loop(ecs: Any, since: float) -> CrashLoop | None:
    """The worker service's crash loop since ``since`` (epoch seconds), if there is one:
    its last :data:`LIMIT` stopped tasks all exited with an error code as they started."""
    arns: list[str] = []
    pages = ecs.get_paginator("list_tasks")
    for page in pages.paginate(
        cluster=bindings.CLUSTER, serviceName=bindings.SERVICE, desiredStatus="STOPPED"
    ):
        arns += page["taskArns"]
    stopped: list[dict[str, Any]] = []
    for lo in range(0, len(arns), 100):
        described = ecs.describe_tasks(cluster=bindings.CLUSTER, tasks=arns[lo : lo + 100])
        stopped += [
            t
            for t in described["tasks"]
            if t.get("stoppedAt") is not None
            and (t.get("startedAt") or t["stoppedAt"]).timestamp() >= since - 1
        ]
    last = sorted(stopped, key=lambda t: t["stoppedAt"])[-LIMIT:]
    if len(last) < LIMIT or not all(_quick_error_exit(t) for t in last):
        return None
    task = last[-1]
    return CrashLoop(
        task_id=str(task["taskArn"]).rsplit("/", 1)[-1],
        exit_code=int(task["containers"][0]["exitCode"]),
        reason=str(task.get("stoppedReason", "")),
    )


@dataclass(frozen=True)
class Unplaceable:
    """The worker service's tasks need more than the host has in all: none will start."""

    event: str

    def message(self, log_dir: Path | None) -> str:
        """One line for the user: the service's event, which names the sizes and options."""
        return f"the worker tasks cannot start: {self.event}"


def unplaceable(ecs: Any, since: float) -> Unplaceable | None:
    """Whether the worker service waits for tasks that can never be placed: it wants tasks,
    none runs, and its newest placement event since ``since`` (epoch seconds) says the task
    is larger than the host's whole capacity."""
    services = ecs.describe_services(cluster=bindings.CLUSTER, services=[bindings.SERVICE])
    service = next(iter(services.get("services", [])), None)
    if service is None or service.get("runningCount", 0) or not service.get("pendingCount", 0):
        return None
    for event in service.get("events", []):  # newest first
        created: datetime | None = event.get("createdAt")
        if created is None or created.timestamp() < since - 1:
            return None
        message = str(event.get("message", ""))
        if "unable to place a task" in message:
            return Unplaceable(message) if WHOLE_CAPACITY in message else None
    return None
