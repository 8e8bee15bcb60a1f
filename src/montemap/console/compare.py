"""Two executions side by side: durations, per-state times, workers and estimated cost.

This is the original workshop's "Reviewing the Results" step: the same job run
with small (0.25 vCPU / 0.5 GB) and large (0.5 vCPU / 1 GB) workers. The
workers are read from the execution's own history: the result of each
``aws-sdk:ecs:updateService`` Task (its task definition and desired count).
The cost is :func:`montemap.workflows.pricing.estimate` (Fargate Spot prices,
per second with a one-minute minimum) of the largest desired count held for
the whole Distributed Map phase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from montemap.console.views import seconds
from montemap.ecs.taskdefs import EcsStore
from montemap.engine.engine import Engine
from montemap.engine.records import ExecutionRecord
from montemap.workflows import pricing
from montemap.workflows.pricing import TaskUsage

MAX_EVENTS = 25_000


@dataclass
class Workers:
    """The worker fleet an execution asked for."""

    task_definition: str
    count: int
    cpu_units: int | None = None
    memory_mib: int | None = None

    def cost_usd(self, seconds: float) -> float | None:
        """What ``count`` tasks of this size cost for ``seconds`` (None: size unknown)."""
        if self.cpu_units is None or self.memory_mib is None:
            return None
        usage = [TaskUsage(self.cpu_units, self.memory_mib, seconds)] * self.count
        return pricing.estimate(usage).usd


@dataclass
class RunFacts:
    """What the comparison shows of one execution."""

    record: ExecutionRecord
    state_seconds: dict[str, float] = field(default_factory=dict)
    map_seconds: float = 0.0
    workers: Workers | None = None

    @property
    def duration(self) -> float:
        return seconds(self.record.start_date, self.record.stop_date)

    @property
    def cost_usd(self) -> float | None:
        if self.workers is None:
            return None
        return self.workers.cost_usd(self.map_seconds or self.duration)


def workers_from(output: Any, ecs: EcsStore | None) -> Workers | None:
    """The fleet an ``ecs:updateService`` result names (sized from ``ecs`` when given)."""
    service = output.get("Service") if isinstance(output, dict) else None
    if not isinstance(service, dict):
        return None
    definition, count = service.get("TaskDefinition"), service.get("DesiredCount")
    if not isinstance(definition, str) or not isinstance(count, int):
        return None
    workers = Workers(definition.rsplit("/", 1)[-1], count)
    resolved = ecs.resolve_task_definition(definition) if ecs is not None else None
    if resolved is not None:
        workers.cpu_units, workers.memory_mib = resolved.cpu_units, resolved.memory_mib
    return workers


def facts(engine: Engine, ecs: EcsStore | None, arn: str) -> RunFacts:
    """Read one execution's top-level history into :class:`RunFacts`."""
    record = engine.describe_execution(arn)
    out = RunFacts(record)
    rows = engine.store.events(arn, reverse=False, after_id=None, limit=MAX_EVENTS)
    entered: dict[str, list[float]] = {}
    map_start: float | None = None
    for row in rows:
        kind, when = row["type"], row["timestamp"]
        details = json.loads(row["details"]) if row["details"] else {}
        name = details.get("name")
        if kind.endswith("StateEntered") and isinstance(name, str):
            entered.setdefault(name, []).append(when)
            out.state_seconds.setdefault(name, 0.0)  # listed in the order first entered
        elif kind.endswith("StateExited") and isinstance(name, str) and entered.get(name):
            start = entered[name].pop()
            out.state_seconds[name] = out.state_seconds.get(name, 0.0) + when - start
        elif kind == "MapRunStarted" and map_start is None:
            map_start = when
        elif kind in ("MapRunSucceeded", "MapRunFailed", "MapRunAborted") and map_start:
            out.map_seconds = when - map_start
        elif kind == "TaskSucceeded" and str(details.get("resource", "")) == "updateService":
            try:
                workers = workers_from(json.loads(details.get("output") or "null"), ecs)
            except ValueError:
                workers = None
            if workers is not None and (out.workers is None or workers.count > out.workers.count):
                out.workers = workers
    end = record.stop_date.timestamp() if record.stop_date else None
    for name, starts in entered.items():  # still in the state when the execution ended
        for start in starts:
            out.state_seconds[name] += seconds(start, end)
    return out


def change(a: float | None, b: float | None) -> str:
    """``+25.0%`` / ``-12.5%``: how much B differs from A."""
    if a is None or b is None or a == 0:
        return ""
    return f"{(b - a) / a * 100:+.1f}%"
