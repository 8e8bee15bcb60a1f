"""Plain records the engine hands to the API layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StateMachineRef:
    """What the engine needs of a state machine to start an execution of it."""

    arn: str
    name: str
    definition: str
    role_arn: str
    type: str = "STANDARD"  # or "EXPRESS"
    revision_id: str | None = None


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution as DescribeExecution reports it."""

    execution_arn: str
    state_machine_arn: str
    name: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    start_date: datetime
    stop_date: datetime | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    map_run_arn: str | None = None
    redrive_count: int = 0
    redrive_date: datetime | None = None
    redrive_status: str | None = None  # REDRIVABLE | NOT_REDRIVABLE | REDRIVABLE_BY_MAP_RUN
    redrive_status_reason: str | None = None
    trace_header: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActivityRecord:
    """One activity as DescribeActivity reports it."""

    arn: str
    name: str
    creation_date: datetime
