"""Driving the shipped workflows on a montemap server through its public APIs (boto3)."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from montemap.arns import Arn, ArnFactory
from montemap.errors import MontemapError
from montemap.workflows import bindings, pricing
from montemap.workflows.worker_crashes import CrashLoop, Unplaceable, crash_loop, unplaceable

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-local"


class WorkflowError(MontemapError):
    """A workflow step the server refused."""


@dataclass(frozen=True)
class RunSpec:
    """One run of the main job."""

    name: str
    loans: int
    layout: str
    workers: int
    task_definition: str
    cpu_units: int
    memory_mib: int
    shocks_bp: list[int]
    paths: int
    seed: int
    as_of: str
    batch_size: int
    partitions: int = 2
    sample_every: int = 1
    estimator: str = "is"

    def execution_input(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "shocks_bp": self.shocks_bp,
            "paths": self.paths,
            "seed": self.seed,
            "as_of": self.as_of,
            "batch_size": self.batch_size,
            "partitions": self.partitions,
            "sample_every": self.sample_every,
            "estimator": self.estimator,
        }


@dataclass
class Clients:
    endpoint: str
    sfn: Any
    ecs: Any

    @classmethod
    def for_endpoint(cls, endpoint: str, *, own_server: bool = False) -> Clients:
        """Clients signing as the AWS CLI would (:mod:`montemap.workflows.signing`);
        ``own_server``: for an embedded server, with the built-in pair."""
        # boto3 here, not at the top: ``montemap run`` starts its function process and
        # its server before it needs a client (the import is ~0.15 s of CPU)
        from botocore.config import Config

        from montemap.workflows import signing

        session = signing.session(own_server=own_server)
        config = Config(retries={"total_max_attempts": 3, "mode": "standard"}, read_timeout=70)
        return cls(
            endpoint=endpoint,
            sfn=session.client("stepfunctions", endpoint_url=endpoint, config=config),
            ecs=session.client("ecs", endpoint_url=endpoint, config=config),
        )


class WorkersCrashing(WorkflowError):
    """The worker service's tasks exit as they start, or can never be placed: the run would
    wait for ever."""

    def __init__(self, loop: CrashLoop | Unplaceable) -> None:
        super().__init__(loop.message(None))
        self.loop = loop


@dataclass
class Snapshot:
    """What the progress display shows at one moment."""

    status: str
    items_total: int = 0
    items_done: int = 0
    items_failed: int = 0
    batches_total: int = 0
    batches_done: int = 0
    batches_failed: int = 0
    retries: int = 0
    workers_running: int = 0
    workers_desired: int = 0


@dataclass
class Outcome:
    status: str
    duration: float
    execution_arn: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    summary: dict[str, Any] | None
    usage: list[pricing.TaskUsage] = field(default_factory=list)

    def record(self, spec: RunSpec, cost: pricing.Cost, *, url: str) -> dict[str, Any]:
        return {
            "name": spec.name,
            "execution_arn": self.execution_arn,
            "status": self.status,
            "error": self.error,
            "cause": self.cause,
            "duration_seconds": round(self.duration, 3),
            "server": url,
            "task_definition": spec.task_definition,
            "cpu_units": spec.cpu_units,
            "memory_mib": spec.memory_mib,
            "workers": spec.workers,
            "loans": spec.loans,
            "paths": spec.paths,
            "shocks_bp": spec.shocks_bp,
            "seed": spec.seed,
            "as_of": spec.as_of,
            "batch_size": spec.batch_size,
            "cost": cost.as_dict(),
            "summary": self.summary,
        }


class WorkflowClient:
    """Install the workflows, start, watch, stop and collect one run."""

    def __init__(self, clients: Clients) -> None:
        self.c = clients
        self.arns: ArnFactory | None = None
        self.base_metrics: dict[str, int] = {}

    # ------------------------------------------------------------------ install
    def install(self) -> dict[str, str]:
        """Create (or update) the activity, both state machines and the worker service."""
        from botocore.exceptions import ClientError

        activity = self.c.sfn.create_activity(name=bindings.ACTIVITY)["activityArn"]
        parsed = Arn.parse(activity)
        if parsed is None:
            raise WorkflowError(f"unexpected activity ARN {activity}")
        self.arns = ArnFactory(region=parsed.region, account=parsed.account)
        values = bindings.local_bindings(self.arns)
        arns = {}
        for workflow, sm_name in bindings.STATE_MACHINE_NAMES.items():
            text = bindings.definition(workflow, values)
            arn = self.arns.state_machine(sm_name)
            try:
                described = self.c.sfn.describe_state_machine(stateMachineArn=arn)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "StateMachineDoesNotExist":
                    raise
                self.c.sfn.create_state_machine(name=sm_name, definition=text, roleArn=ROLE_ARN)
            else:  # the same definition again would only write a new revision
                if described.get("definition") != text:
                    self.c.sfn.update_state_machine(stateMachineArn=arn, definition=text)
            arns[workflow] = arn
        services = self.c.ecs.describe_services(
            cluster=bindings.CLUSTER, services=[bindings.SERVICE]
        )["services"]
        if not any(s.get("status") == "ACTIVE" for s in services):
            self.c.ecs.create_service(
                cluster=bindings.CLUSTER,
                serviceName=bindings.SERVICE,
                taskDefinition="small",
                desiredCount=0,
            )
        return arns

    def use_task_definition(self, family: str) -> None:
        self.c.ecs.update_service(
            cluster=bindings.CLUSTER, service=bindings.SERVICE, taskDefinition=family
        )

    # ------------------------------------------------------------------ run
    def execution_arn(self, spec: RunSpec) -> str:
        """The ARN the run's execution has (or will have once :meth:`start` is answered)."""
        assert self.arns is not None, "install() first"
        return self.arns.execution(bindings.STATE_MACHINE_NAMES["data-processing"], spec.name)

    def start(self, spec: RunSpec) -> str:
        assert self.arns is not None, "install() first"
        self.base_metrics = self.metrics()
        from botocore.exceptions import ClientError

        sm = self.arns.state_machine(bindings.STATE_MACHINE_NAMES["data-processing"])
        try:
            response = self.c.sfn.start_execution(
                stateMachineArn=sm, name=spec.name, input=json.dumps(spec.execution_input())
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            raise WorkflowError(
                f"an execution named {spec.name!r} already exists on this server: "
                "choose another --name, or leave --name out"
            ) from None
        return str(response["executionArn"])

    def metrics(self) -> dict[str, int]:
        try:
            with urllib.request.urlopen(f"{self.c.endpoint}/metrics", timeout=5) as response:
                data = json.loads(response.read())
                return {k: int(v) for k, v in data.get("counters", {}).items()}
        except (OSError, ValueError):
            return {}

    def snapshot(self, arn: str) -> Snapshot:
        from botocore.exceptions import ClientError

        described = self.c.sfn.describe_execution(executionArn=arn)
        snap = Snapshot(status=described["status"])
        try:
            runs = self.c.sfn.list_map_runs(executionArn=arn, maxResults=1000)["mapRuns"]
        except ClientError:
            runs = []
        for entry in runs:
            run = self.c.sfn.describe_map_run(mapRunArn=entry["mapRunArn"])
            items, execs = run["itemCounts"], run["executionCounts"]
            snap.items_total += items.get("total", 0)
            snap.items_done += items.get("succeeded", 0)
            snap.items_failed += items.get("failed", 0) + items.get("timedOut", 0)
            snap.batches_total += execs.get("total", 0)
            snap.batches_done += execs.get("succeeded", 0)
            snap.batches_failed += execs.get("failed", 0) + execs.get("timedOut", 0)
        metrics = self.metrics()
        snap.retries = metrics.get("state_retries", 0) - self.base_metrics.get("state_retries", 0)
        services = self.c.ecs.describe_services(
            cluster=bindings.CLUSTER, services=[bindings.SERVICE]
        )["services"]
        if services:
            snap.workers_running = services[0].get("runningCount", 0)
            snap.workers_desired = services[0].get("desiredCount", 0)
        return snap

    def wait(
        self,
        arn: str,
        progress: Any,
        *,
        interval: float = 0.5,
        refresh: float = 1.0,
        wake: threading.Event | None = None,
        quiet_interval: float = 5.0,
        crashes_since: float | None = None,
        crash_check: float = 5.0,
    ) -> dict[str, Any]:
        """Poll until the execution ends; returns its final DescribeExecution.

        The status is checked every ``interval`` seconds (one DescribeExecution),
        and at once whenever ``wake`` is set (an embedded server sets it when the
        execution's history grows: the end is seen when it happens, not up to
        ``interval`` later); the progress display's snapshot (Map Runs, metrics,
        the worker service: several calls) is taken at most every ``refresh``
        seconds, and never when the display is quiet. With an embedded server
        every call costs the server's CPU, which the workers need: with ``wake`` and
        a quiet display, the status is checked when woken and otherwise only every
        ``quiet_interval`` seconds (at least ``interval``).

        With ``crashes_since`` (epoch seconds), every ``crash_check`` seconds the worker
        service's tasks stopped since then are looked at: :class:`WorkersCrashing` when
        they exit as they start, or when they can never be placed
        (:mod:`montemap.workflows.worker_crashes`).
        """
        watching = not getattr(progress, "quiet", False)
        refreshed = -math.inf
        checked = time.monotonic()
        while True:
            now = time.monotonic()
            if crashes_since is not None and now - checked >= crash_check:
                checked = now
                loop = crash_loop(self.c.ecs, crashes_since) or unplaceable(
                    self.c.ecs, crashes_since
                )
                if loop is not None:
                    raise WorkersCrashing(loop)
            if watching and now - refreshed >= refresh:
                refreshed = now
                snap = self.snapshot(arn)
                progress.update(snap)
                status = snap.status
            else:
                described = dict(self.c.sfn.describe_execution(executionArn=arn))
                status = described["status"]
                if status != "RUNNING" and not watching:
                    return described  # nothing to draw: this description is the final one
            if status != "RUNNING":
                if refreshed != now:
                    progress.update(self.snapshot(arn))  # the final counts
                return dict(self.c.sfn.describe_execution(executionArn=arn))
            if wake is None:
                time.sleep(interval)
            elif wake.wait(interval if watching else max(interval, quiet_interval)):
                wake.clear()  # before the next look: a later event sets it again

    def running(self) -> list[str]:
        """The ARNs of the data-processing executions running on the server."""
        assert self.arns is not None, "install() first"
        sm = self.arns.state_machine(bindings.STATE_MACHINE_NAMES["data-processing"])
        pages = self.c.sfn.get_paginator("list_executions")
        return [
            str(execution["executionArn"])
            for page in pages.paginate(stateMachineArn=sm, statusFilter="RUNNING")
            for execution in page["executions"]
        ]

    def stop(self, arn: str, cause: str = "stopped by Ctrl-C") -> None:
        """Stop the execution (one that never started is nothing to stop) and scale the
        workers in."""
        from botocore.exceptions import ClientError

        try:
            self.c.sfn.stop_execution(executionArn=arn, error="montemap.Interrupted", cause=cause)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                raise
        finally:
            self.c.ecs.update_service(
                cluster=bindings.CLUSTER, service=bindings.SERVICE, desiredCount=0
            )

    def worker_tasks(self) -> list[str]:
        """The ARNs of the worker service's tasks not stopped yet (none if it cannot say)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.c.ecs.get_paginator("list_tasks").paginate(
                cluster=bindings.CLUSTER, serviceName=bindings.SERVICE, desiredStatus="RUNNING"
            )
            return [str(arn) for page in pages for arn in page["taskArns"]]
        except (BotoCoreError, ClientError):
            return []

    def drain(self, tasks: list[str], timeout: float, interval: float = 0.1) -> bool:
        """Wait, at most ``timeout`` seconds, until these worker tasks have stopped; whether
        they have. A task stopped while the server still answers reports its task in hand
        (refused once the execution is stopped) and exits; one stopped with the server gone
        retries its report until the server's stop grace (30 s) ends and kills it."""
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + timeout
        while tasks:
            try:
                described = []
                for lo in range(0, len(tasks), 100):
                    chunk = tasks[lo : lo + 100]
                    described += self.c.ecs.describe_tasks(cluster=bindings.CLUSTER, tasks=chunk)[
                        "tasks"
                    ]
            except (BotoCoreError, ClientError):
                return False
            tasks = [str(t["taskArn"]) for t in described if t.get("lastStatus") != "STOPPED"]
            if tasks and time.monotonic() >= deadline:
                return False
            if tasks:
                time.sleep(interval)
        return True

    # ------------------------------------------------------------------ results
    def task_usage(self, since: float) -> list[pricing.TaskUsage]:
        """Worker tasks of the service that ran after ``since``: their size and lifetime."""
        arns: list[str] = []
        pages = self.c.ecs.get_paginator("list_tasks")
        for status in ("RUNNING", "STOPPED"):
            # every page: ListTasks answers 100 at a time, oldest first, and stopped
            # tasks of earlier runs stay listed for an hour
            for page in pages.paginate(
                cluster=bindings.CLUSTER, serviceName=bindings.SERVICE, desiredStatus=status
            ):
                arns += page["taskArns"]
        usage = []
        now = datetime.now(UTC)
        for lo in range(0, len(arns), 100):
            tasks = self.c.ecs.describe_tasks(cluster=bindings.CLUSTER, tasks=arns[lo : lo + 100])
            for task in tasks["tasks"]:
                started = task.get("startedAt") or task.get("createdAt")
                if started is None or started.timestamp() < since - 1:
                    continue
                stopped = task.get("stoppedAt") or now
                usage.append(
                    pricing.TaskUsage(
                        int(task.get("cpu", 0)),
                        int(task.get("memory", 0)),
                        max(0.0, (stopped - started).total_seconds()),
                    )
                )
        return usage

    def outcome(
        self, arn: str, described: dict[str, Any], spec: RunSpec, *, started: float
    ) -> Outcome:
        stop = described.get("stopDate") or datetime.now(UTC)
        start = described["startDate"]
        output = json.loads(described["output"]) if described.get("output") else None
        summary = None
        if output and output.get("output_dir") and Path(output["output_dir"]).is_dir():
            path = Path(output["output_dir"]) / "summary.json"
            if path.exists():
                summary = json.loads(path.read_text())
        return Outcome(
            status=described["status"],
            duration=(stop - start).total_seconds(),
            execution_arn=arn,
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            summary=summary,
            usage=self.task_usage(started),
        )
