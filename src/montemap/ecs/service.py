"""The worker service: keeps each ECS-style service's worker processes running.

:class:`ServiceManager` is an asyncio supervisor. One reconcile loop compares
every service's desired state (in :class:`~montemap.ecs.taskdefs.EcsStore`)
with its tasks and acts:

* too few tasks in the PRIMARY deployment: create tasks (PROVISIONING, which
  ECS counts as pending; at most :data:`MAX_PROVISIONING_TASKS` on the whole
  host, so a huge desired count costs no more rows than that) and place them
  while the host has :class:`~montemap.ecs.capacity.Capacity` for their
  CPU and memory, each in its own process group and, where the machine
  allows, its own cgroup with the task definition's CPU and memory limits;
  the others stay PROVISIONING until running tasks stop;
* too many: stop the extras (not yet launched ones first, then the newest);
* a new deployment (the task definition changed): start the new tasks and stop
  an old one for each new one that runs (ECS's rolling update with 100 %
  minimum healthy and 200 % maximum), then retire the old deployment;
* a process that exits on its own is a crashed task: it is replaced, after a
  back-off that doubles with each quick crash of the same service.

Stopping a task sends SIGTERM to its process group and SIGKILL after a grace
period (the container's ``stopTimeout``, or ``stop_grace``). Scaling in
cancels tasks not yet started at once (:meth:`ServiceManager.cancel_pending`).
Tasks are processes of this server: they do not outlive it (Linux
``PDEATHSIG``; :meth:`ServiceManager.close` stops them all together, within
one grace period), and a restarted server stops whatever its predecessor left
and starts fresh tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from montemap.ecs.capacity import Capacity
from montemap.ecs.cgroups import CgroupManager
from montemap.ecs.ecs_store import EcsStore
from montemap.ecs.limits import MAX_PROVISIONING_TASKS
from montemap.ecs.processes import pdeathsig_wrapper, process_start_ticks, stop_groups
from montemap.ecs.task_runner import DEFAULT_STOP_GRACE_S, Backoff, TaskRunner, Throttle
from montemap.ecs.taskdefs import (
    Deployment,
    Service,
    TaskDefinition,
    TaskRecord,
    effective_container,
    render_template,
)
from montemap.errors import ApiError

if TYPE_CHECKING:
    from montemap.aws.mapping import HostMapping

log = logging.getLogger(__name__)

_PENDING = ("PROVISIONING", "PENDING")
#: Processes started in one reconcile pass before it looks for changes again. A
#: pass does not yield to the event loop between two launches (a scale-out's
#: tasks start together), so this bounds how long it holds the loop.
LAUNCH_BATCH = 16
#: Seconds between two prunings of stopped tasks.
PRUNE_EVERY_S = 60.0
#: Stopped tasks kept (the newest) however recent the others, so that churn
#: (a service scaled out and in again and again) cannot grow the table.
MAX_STOPPED_TASKS = 10_000

#: Why the tasks a server leaves are stopped: at its shutdown, and by the next server
#: after a crash (the processes die with the server that started them).
SHUTDOWN_REASON = "Server shutting down"
RESTARTED_REASON = "Task stopped because the server that ran it restarted"
#: The refusal of a task asked for while the server stops its own (:meth:`ServiceManager.
#: refuse_while_closing`): ECS's code for a failure on its side (HTTP 500, retried by
#: the SDKs), with the reason RunTask gives when it has no capacity to place a task.
CLOSING_CODE = "ServerException"

__all__ = [
    "DEFAULT_STOP_GRACE_S",
    "RESTARTED_REASON",
    "SHUTDOWN_REASON",
    "Backoff",
    "ServiceManager",
    "process_start_ticks",
    "stopped_by_server",
]


def stopped_by_server(task: TaskRecord) -> bool:
    """Whether ``task`` was stopped because its server stopped, not by its own end or a
    request: its work may be unfinished."""
    return task.stop_code == "ServiceSchedulerInitiated" and task.stopped_reason in (
        SHUTDOWN_REASON,
        RESTARTED_REASON,
    )


class ServiceManager(TaskRunner):
    """Starts and stops worker processes so that every service has its desired count.

    The options are :class:`~montemap.ecs.task_runner.TaskRunner`'s, plus
    ``host_mapping``: the mapping file's container rules (commands run instead
    of images' own, see docs/bring-your-own.md).
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
        host_mapping: HostMapping | None = None,
    ) -> None:
        #: The mapping file's container rules: commands run instead of images' (issue 15).
        self.host_mapping = host_mapping
        super().__init__(
            store,
            cgroups=cgroups,
            variables=variables,
            log_dir=log_dir,
            stop_grace=stop_grace,
            backoff=backoff,
            capacity=capacity,
        )
        # (cluster, service, "quota" | "capacity") -> why its tasks wait, said once
        self._blocked: dict[tuple[str, str, str], str] = {}
        self._pruned_at = 0.0
        self._steady: set[tuple[str, str]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed: asyncio.Future[None] | None = None  # the first close()'s work
        self._hurry = asyncio.Event()  # set: the tasks stopping get SIGKILL now

    def _command(
        self, task: TaskRecord, definition: TaskDefinition
    ) -> tuple[list[str], dict[str, str]]:
        """As the definition says (entryPoint + command), or as the mapping's rule says."""
        argv, env = super()._command(task, definition)
        container = effective_container(task, definition)
        rule = (
            None
            if self.host_mapping is None
            else self.host_mapping.container(
                definition.family, str(container.get("name")), container.get("image")
            )
        )
        if rule is None:
            return argv, env
        variables = self._variables(task)
        for name, value in rule.environment.items():
            env[name] = render_template(value, variables)
        argv = rule.argv(list(container.get("command") or []))
        return [render_template(arg, variables) for arg in argv], env

    # ------------------------------------------------------------------ lifecycle
    def status(self) -> dict[str, object]:
        """A summary for health pages: limits, live tasks."""
        return {
            **self.support.as_dict(),
            "live_tasks": len(self._live),
            "capacity": self.capacity.as_dict(),
            "used": {
                "cpu_units": self._usage.cpu_units,
                "memory_mib": self._usage.memory_mib,
                "tasks": self._usage.tasks,
            },
        }

    async def start(self) -> None:
        """Stop what a previous server left running, then start reconciling."""
        if self._loop_task is not None:
            raise RuntimeError("ServiceManager already started")
        self.store.prune_stopped_tasks()
        _ = self.support  # probe once, up front, so the first launch does not pay for it
        pdeathsig_wrapper()  # likewise
        if not self.support.limits_enforced:
            log.warning("worker CPU/memory limits are not enforced: %s", self.support.reason)
        leftovers = self.store.tasks(live=True)
        self.store.update_tasks(
            [t.id for t in leftovers],
            last_status="STOPPED",
            desired_status="STOPPED",
            stopped_at=time.time(),
            stop_code="ServiceSchedulerInitiated",
            stopped_reason=RESTARTED_REASON,
        )
        for task in leftovers:
            if task.pid is not None or self.cgroups.support.limits_enforced:
                self._spawn_background(self._reap_orphan(task))
        self._loop_task = asyncio.create_task(self._run(), name="montemap-service-manager")

    async def close(self, *, grace: float | None = None) -> None:
        """Stop every task (SIGTERM, then SIGKILL after ``grace`` or :meth:`hurry`) and
        the loop; a second call waits for the first one's end.

        Desired counts are kept: a server started later starts the tasks again.
        """
        if self._closed is None:
            self._closed = asyncio.ensure_future(self._close(grace))
        await asyncio.shield(self._closed)

    def hurry(self) -> None:
        """Cut the stop grace of :meth:`close` short (a second stop signal): kill now."""
        self._hurry.set()

    async def _close(self, grace: float | None) -> None:
        self._closing = True
        if self._loop_task is not None:
            self._wake.set()  # let a pass in progress finish (it may be spawning a process)
            await self._loop_task
        reason = SHUTDOWN_REASON
        lives = list(self._live.values())
        records = {t.id: t for t in self.store.tasks(live=True)}
        self.store.update_tasks(
            [i for i in self._live if i in records and records[i].desired_status == "RUNNING"],
            desired_status="STOPPED",
            last_status="STOPPING",
            stopping_at=time.time(),
            stop_code="ServiceSchedulerInitiated",
            stopped_reason=reason,
        )
        self._cancel([i for i in records if i not in self._live], reason)
        killed = await stop_groups(
            [(live.process.pid, live.exited.wait) for live in lives],
            self.stop_grace if grace is None else grace,
            hurry=self._hurry,
        )
        if killed:
            log.warning("%d tasks ignored SIGTERM on shutdown: killed them", len(killed))
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.cgroups.close()

    @property
    def closing(self) -> bool:
        """Whether the server is stopping its tasks (:meth:`close` has begun)."""
        return self._closing

    def refuse_while_closing(self, action: str) -> None:
        """Raise an ``ApiError`` where the server is stopping its tasks: a task asked for
        now (RunTask, a scale-out) would be answered PROVISIONING and never start (the
        next server marks it STOPPED); refused, the caller knows."""
        if self._closing:
            raise ApiError(
                CLOSING_CODE,
                f"{action} was refused: Capacity is unavailable at this time: the server is "
                "shutting down and stopping its tasks. Please try again once it has restarted.",
                status=500,
            )

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds, checking after every task change."""
        async with asyncio.timeout(timeout):
            while not predicate():
                changed = self._changed
                await changed.wait()

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

    # ------------------------------------------------------------------ reconcile
    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                self._prune()
                timeout = await self.reconcile()
            except Exception:
                log.exception("reconciling worker services failed")
                timeout = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _prune(self) -> None:
        """Forget stopped tasks past their retention, at most once a minute."""
        now = time.monotonic()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self.store.prune_stopped_tasks(keep_at_most=MAX_STOPPED_TASKS)

    async def reconcile(self) -> float | None:
        """One pass over every service; seconds until the next timed action, if any."""
        next_timer: float | None = None
        for service in self.store.services(statuses=("ACTIVE", "DRAINING")):
            wait = await self._reconcile_service(service)
            if wait is not None:
                next_timer = wait if next_timer is None else min(next_timer, wait)
        wait = await self._launch_standalone()
        if wait is not None:
            next_timer = wait if next_timer is None else min(next_timer, wait)
        return next_timer

    # ------------------------------------------------------------------ RunTask
    def run_tasks(
        self,
        cluster: str,
        definition: TaskDefinition,
        count: int,
        *,
        started_by: str | None,
        overrides: dict[str, Any] | None,
        options: dict[str, Any] | None = None,
    ) -> list[TaskRecord]:
        """Create ``count`` standalone tasks (RunTask), within the host's PROVISIONING
        quota; they are placed as room allows, run once and are never replaced. Raises
        :class:`~montemap.ecs.capacity.TaskTooLarge` (nothing created) where the task is
        larger than the host's whole capacity: it would wait for room for ever; refuses
        (:meth:`refuse_while_closing`) while the server stops its tasks."""
        self.refuse_while_closing("RunTask")
        room = MAX_PROVISIONING_TASKS - self.store.count_tasks("PROVISIONING")
        records = [
            TaskRecord.standalone(
                cluster,
                definition,
                task_id=uuid.uuid4().hex,
                container_id=str(uuid.uuid4()),
                created_at=time.time(),
                started_by=started_by,
                overrides=overrides,
                options=options,
            )
            for _ in range(max(0, min(count, room)))
        ]
        too_large = records and self.capacity.too_small_for(
            records[0].cpu_units, records[0].memory_mib
        )
        if too_large:
            raise too_large
        if records:
            self.store.insert_tasks(records)
            self._notify()
            self.wake()
        return records

    async def _launch_standalone(self) -> float | None:
        """Place the RunTask tasks waiting for room, oldest first."""
        waiting = self.store.standalone_waiting(LAUNCH_BATCH + 1)
        for index, task in enumerate(waiting):
            if self._closing or index >= LAUNCH_BATCH:
                return 0.0
            if self._usage.shortage(self.capacity, task.cpu_units, task.memory_mib):
                return None  # placed when a task stops and frees room (that wakes the loop)
            await self._launch(task)
        return None

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
            current.extend(self._create_tasks(service, primary, desired - len(current)))
        elif len(current) > desired:
            current = await self._scale_in(service, primary, current, desired)

        waiting = [t for t in current if t.last_status == "PROVISIONING"]
        wait, blocked = await self._launch_ready(service, waiting)
        running_current = sum(1 for t in current if t.id in self._live)
        # A new task the host has no room for replaces an old one (a full host
        # cannot run both, and would otherwise never finish the deployment).
        keep_old = max(0, desired - running_current - blocked)
        if len(old) > keep_old:
            old.sort(key=lambda t: (t.last_status not in _PENDING, t.created_at))
            for task in old[: len(old) - keep_old]:
                await self._stop(
                    task.id,
                    "ServiceSchedulerInitiated",
                    f"Task replaced by deployment {primary.id}",
                )
        self._update_deployments(service, deployments, desired)
        if service.status == "DRAINING" and not self.store.tasks(
            cluster=service.cluster, service=service.name, live=True
        ):
            self.store.set_service_status(service, "INACTIVE")
            self._notify()
        return wait

    def _create_tasks(self, service: Service, primary: Deployment, wanted: int) -> list[TaskRecord]:
        """Up to ``wanted`` new PROVISIONING tasks, within the host's PROVISIONING quota."""
        definition = self.store.resolve_task_definition(primary.task_definition)
        if definition is None:
            return []
        room = MAX_PROVISIONING_TASKS - self.store.count_tasks("PROVISIONING")
        count = max(0, min(wanted, room))
        self._note_blocked(
            service,
            "quota",
            None
            if count == wanted
            else f"{MAX_PROVISIONING_TASKS} tasks are PROVISIONING on this host (the ECS quota"
            " 'Tasks in the PROVISIONING state per cluster'); more start as they are placed",
        )
        records = [self._new_task(service, primary.id, definition) for _ in range(count)]
        if records:
            self.store.insert_tasks(records)
            self._notify()
        return records

    async def _scale_in(
        self, service: Service, primary: Deployment, current: list[TaskRecord], desired: int
    ) -> list[TaskRecord]:
        """Stop the extra tasks (not yet started ones first, then the newest)."""
        extras = sorted(current, key=lambda t: (t.last_status not in _PENDING, -t.created_at))
        extras = extras[: len(current) - desired]
        reason = f"Scaling activity initiated by (deployment {primary.id})"
        unplaced = [t.id for t in extras if t.id not in self._live]
        self._cancel(unplaced, reason)
        placed = [t.id for t in extras if t.id in self._live]
        for task_id in placed:
            await self._stop(task_id, "ServiceSchedulerInitiated", reason)
        if placed:
            self._event(
                service,
                f"has stopped {len(placed)} running tasks: "
                + " ".join(f"(task {i})" for i in placed)
                + ".",
            )
        stopped = set(unplaced) | set(placed)
        return [t for t in current if t.id not in stopped]

    def cancel_pending(self, cluster: str, service: str, desired: int) -> int:
        """Stop at once the tasks not yet started past ``desired`` (scale in, delete).

        The API calls this before it answers, so a service scaled in starts
        nothing more; the number of tasks cancelled.
        """
        live = [
            t
            for t in self.store.tasks(cluster=cluster, service=service, live=True)
            if t.desired_status == "RUNNING"
        ]
        excess = len(live) - desired
        unplaced = [t for t in live if t.last_status == "PROVISIONING" and t.id not in self._live]
        if excess <= 0 or not unplaced:
            return 0
        unplaced.sort(key=lambda t: -t.created_at)
        ids = [t.id for t in unplaced[:excess]]
        self._cancel(ids, "Scaling activity initiated by the service's update")
        return len(ids)

    def _cancel(self, task_ids: list[str], reason: str) -> None:
        """Mark tasks that have no process STOPPED, in one transaction."""
        if not task_ids:
            return
        self.store.update_tasks(
            task_ids,
            last_status="STOPPED",
            desired_status="STOPPED",
            stopped_at=time.time(),
            stop_code="ServiceSchedulerInitiated",
            stopped_reason=reason,
        )
        self._notify()
        self.wake()

    def _new_task(
        self, service: Service, deployment_id: str, definition: TaskDefinition
    ) -> TaskRecord:
        return TaskRecord.provisioning(
            service,
            definition,
            task_id=uuid.uuid4().hex,
            deployment_id=deployment_id,
            container_id=str(uuid.uuid4()),
            created_at=time.time(),
        )

    def _note_blocked(self, service: Service, kind: str, why: str | None) -> None:
        """Say once in the service's events why tasks wait (``why`` None: they no longer do)."""
        key = (service.cluster, service.name, kind)
        if why is None:
            self._blocked.pop(key, None)
        elif self._blocked.get(key) != why:
            self._blocked[key] = why
            self._event(service, f"was unable to place a task because {why}.")

    async def _launch_ready(
        self, service: Service, waiting: list[TaskRecord]
    ) -> tuple[float | None, int]:
        """Place what the host has room for; (seconds to the next try, tasks left for room)."""
        if not waiting:
            self._note_blocked(service, "capacity", None)
            return None, 0
        throttle = self._throttles.setdefault((service.cluster, service.name), Throttle())
        now = time.monotonic()
        if now < throttle.not_before:
            return throttle.not_before - now, 0
        started: list[str] = []
        blocked = 0
        wait: float | None = None
        for index, task in enumerate(waiting):
            if self._closing or (started and self._wake.is_set()) or len(started) >= LAUNCH_BATCH:
                wait = 0.0  # look at the services again (a change, or a long batch) first
                break
            why = self._usage.shortage(self.capacity, task.cpu_units, task.memory_mib)
            if why:
                self._note_blocked(service, "capacity", why)
                blocked = len(waiting) - index
                break
            if await self._launch(task):
                started.append(task.id)
        if not blocked:
            self._note_blocked(service, "capacity", None)
        if started:
            self.wake()  # a rolling deployment stops old tasks once new ones run
            self._event(
                service,
                f"has started {len(started)} tasks: "
                + " ".join(f"(task {i})" for i in started)
                + ".",
            )
        return wait, blocked

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
