"""The worker service: keeps each ECS-style service's worker processes running.

:class:`ServiceManager` is an asyncio supervisor. One reconcile loop compares
every service's desired state (in :class:`~montemap.workers.taskdefs.EcsStore`)
with its tasks and acts:

* too few tasks in the PRIMARY deployment: create tasks (PROVISIONING, which
  ECS counts as pending) and launch them, each in its own process group and,
  where the machine allows, its own cgroup with the task definition's CPU and
  memory limits;
* too many: stop the extras (not yet launched ones first, then the newest);
* a new deployment (the task definition changed): start the new tasks and stop
  an old one for each new one that runs (ECS's rolling update with 100 %
  minimum healthy and 200 % maximum), then retire the old deployment;
* a process that exits on its own is a crashed task: it is replaced, after a
  back-off that doubles with each quick crash of the same service.

Stopping a task sends SIGTERM to its process group and SIGKILL after a grace
period (the container's ``stopTimeout``, or ``stop_grace``). Tasks are
processes of this server: they do not outlive it (Linux ``PDEATHSIG``), and a
restarted server stops whatever its predecessor left and starts fresh tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from montemap.workers.cgroups import CgroupManager, CgroupSupport, TaskCgroup
from montemap.workers.taskdefs import (
    Deployment,
    EcsStore,
    Service,
    TaskDefinition,
    TaskRecord,
    TemplateError,
    render_template,
)

log = logging.getLogger(__name__)

#: ECS's default time between SIGTERM and SIGKILL when a container stops.
DEFAULT_STOP_GRACE_S = 30.0
_PR_SET_PDEATHSIG = 1
_PENDING = ("PROVISIONING", "PENDING")


@dataclass(frozen=True)
class Backoff:
    """Delay before replacing a crashed task: ``base * 2**(n-1)`` up to ``maximum``.

    ``n`` counts the service's consecutive tasks that crashed within
    ``stable_after`` seconds of starting; a task that ran longer resets it.
    """

    base: float = 1.0
    maximum: float = 60.0
    stable_after: float = 10.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.base * 2 ** min(failures - 1, 30)))


@dataclass
class _Throttle:
    failures: int = 0
    not_before: float = 0.0  # time.monotonic()


@dataclass
class _Live:
    """A launched task's process and what must be cleaned up after it."""

    task_id: str
    process: asyncio.subprocess.Process
    cgroup: TaskCgroup | None
    started: float  # time.monotonic()
    watcher: asyncio.Task[None] | None = None
    killer: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


#: ``prctl(2)``, resolved in the server so the forked child only calls it.
_PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the server's thread dies."""
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def process_start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ServiceManager:
    """Starts and stops worker processes so that every service has its desired count.

    ``variables`` fill the task definitions' templates (see
    :mod:`montemap.workers.taskdefs`); ``log_dir`` receives one log file per
    task (``<cluster>/<task id>.log``), otherwise output is discarded.
    """

    def __init__(
        self,
        store: EcsStore,
        *,
        cgroups: CgroupManager | None = None,
        variables: Mapping[str, str | None] | None = None,
        log_dir: Path | None = None,
        stop_grace: float = DEFAULT_STOP_GRACE_S,
        backoff: Backoff | None = None,
    ) -> None:
        if stop_grace < 0:
            raise ValueError(f"stop_grace must be >= 0, got {stop_grace}")
        self.store = store
        self.cgroups = cgroups if cgroups is not None else CgroupManager(enabled=False)
        self.variables: dict[str, str | None] = {
            "python": sys.executable,
            "region": store.arns.region,
        }
        self.variables.update(variables or {})
        self.log_dir = log_dir
        self.stop_grace = stop_grace
        self.backoff = backoff or Backoff()
        self._live: dict[str, _Live] = {}
        self._throttles: dict[tuple[str, str], _Throttle] = {}
        self._events: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._steady: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def support(self) -> CgroupSupport:
        """Whether CPU and memory limits are enforced, and why not."""
        return self.cgroups.support

    def status(self) -> dict[str, object]:
        """A summary for health pages: limits, live tasks."""
        return {**self.support.as_dict(), "live_tasks": len(self._live)}

    async def start(self) -> None:
        """Stop what a previous server left running, then start reconciling."""
        if self._loop_task is not None:
            raise RuntimeError("ServiceManager already started")
        self.store.prune_stopped_tasks()
        _ = self.support  # probe once, up front, so the first launch does not pay for it
        if not self.support.limits_enforced:
            log.warning("worker CPU/memory limits are not enforced: %s", self.support.reason)
        for task in self.store.tasks(live=True):
            self._spawn_background(self._reap_orphan(task))
        self._loop_task = asyncio.create_task(self._run(), name="montemap-service-manager")

    async def close(self, *, grace: float | None = None) -> None:
        """Stop every task (SIGTERM, then SIGKILL after ``grace``) and the loop.

        Desired counts are kept: a server started later starts the tasks again.
        """
        self._closing = True
        if self._loop_task is not None:
            self._wake.set()  # let a pass in progress finish (it may be spawning a process)
            await self._loop_task
        for task_id in list(self._live):
            await self._stop(
                task_id, "ServiceSchedulerInitiated", "Server shutting down", grace=grace
            )
        for record in self.store.tasks(live=True):
            if record.id not in self._live:  # never launched
                self._mark_stopped(
                    record.id, "ServiceSchedulerInitiated", "Server shutting down", None
                )
        waits = [live.exited.wait() for live in self._live.values()]
        if waits:
            await asyncio.gather(*waits)
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.cgroups.close()

    def wake(self) -> None:
        """Reconcile now (after a service changed)."""
        self._wake.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds, checking after every task change."""
        async with asyncio.timeout(timeout):
            while not predicate():
                changed = self._changed
                await changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _spawn_background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ queries
    def counts(
        self, cluster: str, service: str, deployment_id: str | None = None
    ) -> tuple[int, int]:
        """(running, pending) tasks of a service (or of one of its deployments)."""
        running = pending = 0
        for task in self.store.tasks(cluster=cluster, service=service, live=True):
            if deployment_id is not None and task.deployment_id != deployment_id:
                continue
            if task.last_status == "RUNNING":
                running += 1
            elif task.last_status in _PENDING:
                pending += 1
        return running, pending

    def events(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """The service's recent events, newest first (ECS ``events``)."""
        return list(reversed(self._events.get((cluster, service), ())))

    def _event(self, service: Service, message: str) -> None:
        events = self._events.setdefault((service.cluster, service.name), deque(maxlen=100))
        events.append(
            {
                "id": str(uuid.uuid4()),
                "createdAt": time.time(),
                "message": f"(service {service.name}) {message}",
            }
        )

    # ------------------------------------------------------------------ reconcile
    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                timeout = await self.reconcile()
            except Exception:
                log.exception("reconciling worker services failed")
                timeout = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def reconcile(self) -> float | None:
        """One pass over every service; seconds until the next timed action, if any."""
        next_timer: float | None = None
        for service in self.store.services(statuses=("ACTIVE", "DRAINING")):
            wait = await self._reconcile_service(service)
            if wait is not None:
                next_timer = wait if next_timer is None else min(next_timer, wait)
        return next_timer

    async def _reconcile_service(self, service: Service) -> float | None:
        deployments = self.store.deployments(service.cluster, service.name)
        if not deployments:
            return None
        primary = deployments[0]
        desired = service.desired_count if service.status == "ACTIVE" else 0
        tasks = [
            t
            for t in self.store.tasks(cluster=service.cluster, service=service.name, live=True)
            if t.desired_status == "RUNNING"
        ]
        current = [t for t in tasks if t.deployment_id == primary.id]
        old = [t for t in tasks if t.deployment_id != primary.id]

        if len(current) < desired:
            definition = self.store.resolve_task_definition(primary.task_definition)
            if definition is not None:
                for _ in range(desired - len(current)):
                    current.append(self._create_task(service, primary.id, definition))
        elif len(current) > desired:
            extras = sorted(current, key=lambda t: (t.last_status not in _PENDING, -t.created_at))
            extras = extras[: len(current) - desired]
            stopped = [t.id for t in extras]
            for task_id in stopped:
                await self._stop(
                    task_id,
                    "ServiceSchedulerInitiated",
                    f"Scaling activity initiated by (deployment {primary.id})",
                )
            running_stopped = [t.id for t in extras if t.last_status not in _PENDING]
            if running_stopped:
                self._event(
                    service,
                    f"has stopped {len(running_stopped)} running tasks: "
                    + " ".join(f"(task {i})" for i in running_stopped)
                    + ".",
                )
            current = [t for t in current if t.id not in stopped]

        running_current = sum(1 for t in current if t.last_status == "RUNNING")
        keep_old = max(0, desired - running_current)
        if len(old) > keep_old:
            old.sort(key=lambda t: (t.last_status not in _PENDING, t.created_at))
            for task in old[: len(old) - keep_old]:
                await self._stop(
                    task.id,
                    "ServiceSchedulerInitiated",
                    f"Task replaced by deployment {primary.id}",
                )

        wait = await self._launch_ready(
            service, [t for t in current if t.last_status == "PROVISIONING"]
        )
        self._update_deployments(service, deployments, desired)
        if service.status == "DRAINING" and not self.store.tasks(
            cluster=service.cluster, service=service.name, live=True
        ):
            self.store.set_service_status(service, "INACTIVE")
            self._notify()
        return wait

    def _create_task(
        self, service: Service, deployment_id: str, definition: TaskDefinition
    ) -> TaskRecord:
        record = TaskRecord(
            id=uuid.uuid4().hex,
            cluster=service.cluster,
            service=service.name,
            deployment_id=deployment_id,
            task_definition=definition.key,
            cpu_units=definition.cpu_units,
            memory_mib=definition.memory_mib,
            last_status="PROVISIONING",
            desired_status="RUNNING",
            pid=None,
            proc_start=None,
            container_id=str(uuid.uuid4()),
            created_at=time.time(),
            started_at=None,
            stopping_at=None,
            stopped_at=None,
            stop_code=None,
            stopped_reason=None,
            exit_code=None,
            limits_enforced=False,
            started_by=deployment_id,
        )
        self.store.insert_task(record)
        self._notify()
        return record

    async def _launch_ready(self, service: Service, waiting: list[TaskRecord]) -> float | None:
        if not waiting:
            return None
        throttle = self._throttles.setdefault((service.cluster, service.name), _Throttle())
        now = time.monotonic()
        if now < throttle.not_before:
            return throttle.not_before - now
        started = []
        for task in waiting:
            if await self._launch(task):
                started.append(task.id)
        if started:
            self.wake()  # a rolling deployment stops old tasks once new ones run
            self._event(
                service,
                f"has started {len(started)} tasks: "
                + " ".join(f"(task {i})" for i in started)
                + ".",
            )
        return None

    def _update_deployments(
        self, service: Service, deployments: list[Deployment], desired: int
    ) -> None:
        """Retire drained old deployments; note a completed rollout and a steady state."""
        primary, olds = deployments[0], deployments[1:]
        live = self.store.tasks(cluster=service.cluster, service=service.name, live=True)
        remaining = []
        for deployment in olds:
            if any(t.deployment_id == deployment.id for t in live):
                remaining.append(deployment)
            else:
                self.store.set_deployment(
                    deployment.id,
                    status="INACTIVE",
                    rollout_state="COMPLETED",
                    reason=f"Replaced by deployment {primary.id}.",
                )
        key = (service.cluster, service.name)
        steady = not remaining and all(
            t.deployment_id == primary.id and t.last_status == "RUNNING" for t in live
        )
        steady = steady and len(live) == desired
        if steady and primary.rollout_state == "IN_PROGRESS":
            self.store.set_deployment(
                primary.id,
                status="PRIMARY",
                rollout_state="COMPLETED",
                reason=f"ECS deployment {primary.id} completed.",
            )
            self._event(service, f"deployment {primary.id} deployment completed.")
        if steady and key not in self._steady:
            self._event(service, "has reached a steady state.")
            self._steady.add(key)
            self._notify()
        elif not steady:
            self._steady.discard(key)

    # ------------------------------------------------------------------ one task
    def _variables(self, task: TaskRecord) -> dict[str, str | None]:
        arn = self.store.arns.task(task.cluster, task.id)
        return {
            **self.variables,
            "cluster": task.cluster,
            "service": task.service or "",
            "task_arn": arn,
            "task_id": task.id,
            "cpu": "" if task.cpu_units is None else str(task.cpu_units),
            "memory": "" if task.memory_mib is None else str(task.memory_mib),
        }

    async def _launch(self, task: TaskRecord) -> bool:
        """Start the task's process; False (and the task STOPPED) when it cannot start."""
        definition = self.store.resolve_task_definition(task.task_definition)
        if definition is None:
            self._failed_to_start(task, f"TaskDefinition {task.task_definition} not found")
            return False
        container = definition.container
        variables = self._variables(task)
        try:
            argv = [render_template(arg, variables) for arg in container["command"]]
            env = dict(os.environ)
            for pair in container.get("environment") or []:
                env[pair["name"]] = render_template(str(pair.get("value", "")), variables)
        except TemplateError as exc:
            self._failed_to_start(task, f"CannotStartContainerError: {exc}")
            return False
        self.store.update_task(task.id, last_status="PENDING")
        group = self._make_cgroup(task)
        log_file = self._open_log(task)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if _PRCTL is not None else None,
            )
        except OSError as exc:
            if group is not None:
                await asyncio.to_thread(group.remove)
            self._failed_to_start(task, f"CannotStartContainerError: {exc}")
            return False
        finally:
            if log_file not in (None, subprocess.DEVNULL) and not isinstance(log_file, int):
                log_file.close()
        limited = False
        if group is not None:
            try:
                group.attach(process.pid)
                limited = True
            except OSError as exc:
                log.warning("task %s runs without limits: cannot join its cgroup: %s", task.id, exc)
        live = _Live(task.id, process, group, time.monotonic())
        self._live[task.id] = live
        # StopTask may have come while the process was being spawned
        wanted = self.store.get_task(task.id)
        stop_now = wanted is None or wanted.desired_status == "STOPPED"
        self.store.update_task(
            task.id,
            last_status="STOPPING" if stop_now else "RUNNING",
            desired_status="STOPPED" if stop_now else "RUNNING",
            pid=process.pid,
            proc_start=process_start_ticks(process.pid),
            started_at=time.time(),
            limits_enforced=limited,
        )
        live.watcher = asyncio.create_task(self._watch(live))
        if stop_now:
            _signal_group(process.pid, signal.SIGTERM)
            live.killer = asyncio.create_task(self._kill_after(live, self.stop_grace))
        self._notify()
        return not stop_now

    def _make_cgroup(self, task: TaskRecord) -> TaskCgroup | None:
        if task.cpu_units is None and task.memory_mib is None:
            return None
        if not self.cgroups.support.limits_enforced:
            return None
        try:
            return self.cgroups.create(
                task.id, cpu_units=task.cpu_units, memory_mib=task.memory_mib
            )
        except OSError as exc:
            log.warning("task %s runs without limits: %s", task.id, exc)
            return None

    def _open_log(self, task: TaskRecord) -> Any:
        if self.log_dir is None:
            return subprocess.DEVNULL
        path = self.log_dir / task.cluster / f"{task.id}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "ab")  # closed right after the spawn

    def log_path(self, task: TaskRecord) -> Path | None:
        """Where the task's output goes (None when discarded)."""
        return None if self.log_dir is None else self.log_dir / task.cluster / f"{task.id}.log"

    def _failed_to_start(self, task: TaskRecord, reason: str) -> None:
        log.warning("task %s failed to start: %s", task.id, reason)
        self._mark_stopped(task.id, "TaskFailedToStart", reason, None)
        self._crashed(task, ran=0.0)

    def _crashed(self, task: TaskRecord, ran: float) -> None:
        if task.service is None:
            return
        throttle = self._throttles.setdefault((task.cluster, task.service), _Throttle())
        if ran >= self.backoff.stable_after:
            throttle.failures = 0
            return
        throttle.failures += 1
        delay = self.backoff.delay(throttle.failures)
        throttle.not_before = time.monotonic() + delay
        service = self.store.get_service(task.cluster, task.service)
        if service is not None and throttle.failures > 1:
            self._event(
                service,
                f"is restarting crashed tasks after {delay:g} s ({throttle.failures} crashes in a row).",
            )

    def _mark_stopped(
        self, task_id: str, stop_code: str, reason: str, exit_code: int | None
    ) -> TaskRecord:
        task = self.store.update_task(
            task_id,
            last_status="STOPPED",
            desired_status="STOPPED",
            stopped_at=time.time(),
            stop_code=stop_code,
            stopped_reason=reason,
            exit_code=exit_code,
        )
        self._notify()
        self.wake()
        return task

    async def _watch(self, live: _Live) -> None:
        code = await live.process.wait()
        ran = time.monotonic() - live.started
        _signal_group(live.process.pid, signal.SIGKILL)  # whatever the worker left behind
        if live.cgroup is not None:
            await asyncio.to_thread(live.cgroup.remove)
        if live.killer is not None:
            live.killer.cancel()
        task = self.store.get_task(live.task_id)
        self._live.pop(live.task_id, None)
        if task is not None:
            if task.desired_status == "STOPPED":
                self._mark_stopped(
                    task.id,
                    task.stop_code or "UserInitiated",
                    task.stopped_reason or "Task stopped",
                    code,
                )
            else:
                self._mark_stopped(
                    task.id, "EssentialContainerExited", "Essential container in task exited", code
                )
                log.warning(
                    "task %s exited with code %s after %.1f s; replacing it", task.id, code, ran
                )
                self._crashed(task, ran)
        live.exited.set()

    async def stop_task(self, task_id: str, reason: str) -> TaskRecord:
        """Stop a task as a user asks (ECS StopTask); a service replaces it."""
        await self._stop(task_id, "UserInitiated", reason)
        task = self.store.get_task(task_id)
        assert task is not None
        return task

    async def _stop(
        self, task_id: str, stop_code: str, reason: str, *, grace: float | None = None
    ) -> None:
        task = self.store.get_task(task_id)
        if task is None or task.last_status == "STOPPED":
            return
        live = self._live.get(task_id)
        if live is None:  # never launched: nothing to signal
            self._mark_stopped(task_id, stop_code, reason, None)
            return
        if task.desired_status == "STOPPED":
            return  # already stopping
        self.store.update_task(
            task_id,
            desired_status="STOPPED",
            last_status="STOPPING",
            stopping_at=time.time(),
            stop_code=stop_code,
            stopped_reason=reason,
        )
        self._notify()
        if grace is None:
            definition = self.store.resolve_task_definition(task.task_definition)
            grace = (
                definition.stop_timeout
                if definition and definition.stop_timeout is not None
                else self.stop_grace
            )
        _signal_group(live.process.pid, signal.SIGTERM)
        live.killer = asyncio.create_task(self._kill_after(live, grace))

    async def _kill_after(self, live: _Live, grace: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.exited.wait(), grace)
            return
        log.warning("task %s ignored SIGTERM for %g s: killing it", live.task_id, grace)
        _signal_group(live.process.pid, signal.SIGKILL)

    async def _reap_orphan(self, task: TaskRecord) -> None:
        """Stop a task that a previous server process started and left behind."""
        alive = (
            task.pid is not None
            and task.proc_start is not None
            and process_start_ticks(task.pid) == task.proc_start
        )
        self._mark_stopped(
            task.id,
            "ServiceSchedulerInitiated",
            "Task stopped because the server that ran it restarted",
            None,
        )
        if alive:
            assert task.pid is not None
            _signal_group(task.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace
            while process_start_ticks(task.pid) == task.proc_start and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # not our child: no wait() to block on
            _signal_group(task.pid, signal.SIGKILL)
        group = self.cgroups.group(task.id)
        if group is not None:
            await asyncio.to_thread(group.remove)
