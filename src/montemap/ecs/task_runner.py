"""One task's life: its process started, watched, stopped; the base of the service manager.

:class:`TaskRunner` holds what a task needs from the server (its template
variables, the cgroups, the log directory, the capacity in use) and does
everything to one task: start its process with the Fargate-like environment
(:mod:`montemap.ecs.task_env`), note its exit (a crash is replaced after
a back-off), stop it (SIGTERM, then SIGKILL after the grace period) and stop
what a previous server left. :class:`~montemap.ecs.service.ServiceManager`
decides which tasks should exist. Tasks of montemap's own worker are forked
from a template that imported it once (:mod:`montemap.ecs.warm_tasks`);
every other task is spawned (:func:`~montemap.ecs.processes.spawn`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from montemap.ecs.capacity import Capacity, Usage
from montemap.ecs.cgroups import CgroupManager, CgroupSupport, TaskCgroup
from montemap.ecs.ecs_store import EcsStore
from montemap.ecs.processes import process_start_ticks, signal_group, spawn, wait_exited
from montemap.ecs.task_env import task_environment
from montemap.ecs.taskdefs import (
    Service,
    TaskDefinition,
    TaskRecord,
    TemplateError,
    container_argv,
    effective_container,
    render_template,
)
from montemap.ecs.warm_tasks import WarmLauncher, WarmProcess, WarmUnavailable

log = logging.getLogger(__name__)

#: ECS's default time between SIGTERM and SIGKILL when a container stops.
DEFAULT_STOP_GRACE_S = 30.0

#: A task's process: spawned by this server, or forked by the warm template.
TaskProcess = subprocess.Popen[bytes] | WarmProcess


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
class Throttle:
    """A service's crash back-off: consecutive quick crashes, and when to start again."""

    failures: int = 0
    not_before: float = 0.0  # time.monotonic()


@dataclass
class _Live:
    """A launched task's process and what must be cleaned up after it."""

    task_id: str
    process: TaskProcess
    cgroup: TaskCgroup | None
    started: float  # time.monotonic()
    cpu_units: int | None = None
    memory_mib: int | None = None
    watcher: asyncio.Task[None] | None = None
    killer: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


def _placeholder(service: Service, definition: TaskDefinition) -> TaskRecord:
    """A task of ``service`` that is never launched: to see what its command would be."""
    return TaskRecord.provisioning(
        service, definition, task_id="0" * 32, deployment_id=None, container_id="", created_at=0.0
    )


class TaskRunner:
    """Starts, watches and stops task processes (see the module docstring).

    ``variables`` fill the task definitions' templates (see
    :mod:`montemap.ecs.taskdefs`) and give every task its Fargate-like
    environment (:mod:`montemap.ecs.task_env`: ``endpoint``, ``region``,
    ``aws_access_key_id``, ``aws_secret_access_key``); ``log_dir`` receives
    one log file per task (``<cluster>/<task id>.log``), otherwise output is
    discarded. ``capacity`` is what the host offers tasks (default: the
    machine's cores, memory and :func:`~montemap.ecs.capacity.default_max_tasks`).
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
        capacity: Capacity | None = None,
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
        self.capacity = capacity or Capacity.of_machine()
        self._usage = Usage()
        python = self.variables.get("python") or sys.executable
        warm_log = None if log_dir is None else log_dir / "warm-template.log"
        #: Forks tasks of montemap's own worker from a template that imported it once.
        self.warm = WarmLauncher(python, warm_log)
        self._live: dict[str, _Live] = {}
        self._throttles: dict[tuple[str, str], Throttle] = {}
        self._events: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        # (cluster, service, task definition) looked at for the warm template
        self._prewarm_seen: set[tuple[str, str, str]] = set()

    @property
    def support(self) -> CgroupSupport:
        """Whether CPU and memory limits are enforced, and why not."""
        return self.cgroups.support

    def wake(self) -> None:
        """Reconcile now (after a service changed).

        A service that runs montemap's worker also starts the warm template
        now, even at a desired count of 0: its imports then overlap whatever
        comes before the scale-out (``montemap run`` creates its service first).
        """
        self._wake.set()
        if self.warm.enabled and not self.warm.started:
            self._prewarm()

    def _prewarm(self) -> None:
        """Start the warm template if an active service's tasks would start warm."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        for service in self.store.services(statuses=("ACTIVE",)):
            seen = (service.cluster, service.name, service.task_definition)
            if seen in self._prewarm_seen:
                continue
            self._prewarm_seen.add(seen)
            definition = self.store.resolve_task_definition(service.task_definition)
            if definition is None:
                continue
            try:
                argv, env = self._command(_placeholder(service, definition), definition)
            except TemplateError:
                continue
            if self.warm.accepts(argv, env):
                self._spawn_background(self._hold_warm())
                self.warm.start(argv, env)
                return

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _spawn_background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        """Start the task's process; False (and the task STOPPED) when it cannot start.

        It awaits nothing unless the start fails, so a pass that launches many
        tasks starts them all before the event loop runs anything else.
        """
        fresh = self.store.get_task(task.id)
        if (
            fresh is None
            or fresh.last_status != "PROVISIONING"
            or fresh.desired_status != "RUNNING"
        ):
            return False  # cancelled (scaled in) since this pass read it
        definition = self.store.resolve_task_definition(task.task_definition)
        if definition is None:
            self._failed_to_start(task, f"TaskDefinition {task.task_definition} not found")
            return False
        try:
            argv, env = self._command(task, definition)
        except TemplateError as exc:
            self._failed_to_start(task, f"CannotStartContainerError: {exc}")
            return False
        warm = await self._warm_ready(task, argv, env)
        if warm is None:
            return False  # cancelled while the template was starting
        self.store.update_task(task.id, last_status="PENDING")
        group = self._make_cgroup(task)
        log_file = self._open_log(task)
        try:
            process = self._start_process(argv, env, log_file, warm)
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
        live = _Live(task.id, process, group, time.monotonic(), task.cpu_units, task.memory_mib)
        self._live[task.id] = live
        self._usage.add(task.cpu_units, task.memory_mib)
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
            signal_group(process.pid, signal.SIGTERM)
            live.killer = asyncio.create_task(self._kill_after(live, self.stop_grace))
        self._notify()
        return not stop_now

    async def _warm_ready(
        self, task: TaskRecord, argv: list[str], env: dict[str, str]
    ) -> bool | None:
        """Whether the task starts warm; None if it was cancelled while the template started.

        Only the first launches of a server wait (for the template's imports).
        """
        if not self.warm.accepts(argv, env):
            return False
        if self.warm.is_ready:
            return True
        if not self.warm.started:
            self._spawn_background(self._hold_warm())
        ready = await self.warm.ready(argv, env)
        fresh = self.store.get_task(task.id)
        if (
            fresh is None
            or fresh.last_status != "PROVISIONING"
            or fresh.desired_status != "RUNNING"
        ):
            return None
        return ready

    async def _hold_warm(self) -> None:
        """A background job for the template's life: cancelling it (closing) ends the template."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.warm.close()

    def _start_process(
        self, argv: list[str], env: dict[str, str], log_file: Any, warm: bool
    ) -> TaskProcess:
        """The task's process, forked warm where it can be, else spawned; OSError if neither."""
        if warm:
            log_fd = None if log_file is subprocess.DEVNULL else log_file.fileno()
            with contextlib.suppress(WarmUnavailable):
                return self.warm.launch(argv, env, os.getcwd(), log_fd)
        return spawn(argv, env, log_file)

    def _command(
        self, task: TaskRecord, definition: TaskDefinition
    ) -> tuple[list[str], dict[str, str]]:
        """The task's argv and environment (Fargate's variables, then the definition's,
        with RunTask's overrides)."""
        container = effective_container(task, definition)
        variables = self._variables(task)
        argv = [render_template(arg, variables) for arg in container_argv(container)]
        env = task_environment(
            os.environ,
            task_id=task.id,
            region=variables.get("region"),
            endpoint=variables.get("endpoint"),
            access_key_id=variables.get("aws_access_key_id"),
            secret_access_key=variables.get("aws_secret_access_key"),
        )
        for pair in container.get("environment") or []:
            env[pair["name"]] = render_template(str(pair.get("value", "")), variables)
        return argv, env

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
        throttle = self._throttles.setdefault((task.cluster, task.service), Throttle())
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
        process = live.process
        code = await (process.wait() if isinstance(process, WarmProcess) else wait_exited(process))
        ran = time.monotonic() - live.started
        signal_group(live.process.pid, signal.SIGKILL)  # whatever the worker left behind
        if live.cgroup is not None:
            await asyncio.to_thread(live.cgroup.remove)
        if live.killer is not None:
            live.killer.cancel()
        task = self.store.get_task(live.task_id)
        if self._live.pop(live.task_id, None) is not None:
            self._usage.add(live.cpu_units, live.memory_mib, sign=-1)
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
                    "task %s exited with code %s after %.1f s%s",
                    task.id,
                    code,
                    ran,
                    "; replacing it" if task.service else "",
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
        signal_group(live.process.pid, signal.SIGTERM)
        live.killer = asyncio.create_task(self._kill_after(live, grace))

    async def _kill_after(self, live: _Live, grace: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.exited.wait(), grace)
            return
        log.warning("task %s ignored SIGTERM for %g s: killing it", live.task_id, grace)
        signal_group(live.process.pid, signal.SIGKILL)

    async def _reap_orphan(self, task: TaskRecord) -> None:
        """Stop a task that a previous server process started and left behind."""
        alive = (
            task.pid is not None
            and task.proc_start is not None
            and process_start_ticks(task.pid) == task.proc_start
        )
        if alive:
            assert task.pid is not None
            signal_group(task.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace
            while process_start_ticks(task.pid) == task.proc_start and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # not our child: no wait() to block on
            signal_group(task.pid, signal.SIGKILL)
        group = self.cgroups.group(task.id)
        if group is not None:
            await asyncio.to_thread(group.remove)
