"""RedriveExecution: continue an unsuccessful execution from the steps that did not succeed.

An execution that ends other than SUCCEEDED keeps its frame checkpoints.
Redriving resets every unfinished or failed frame to RUNNING (keeping the
state it stood at, its input and variables), drops what bound it to the
previous attempt (task tokens, retry counters), records ``ExecutionRedriven``
and resumes the frames: succeeded branches and iterations are not run again,
and a Distributed Map state finds its FAILED Map Run and redrives only the
children that failed or never started (:mod:`montemap.engine.distributed`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from montemap.engine.errors import ExecutionNotRedrivable
from montemap.engine.history import HISTORY_QUOTA_CAUSE, Event
from montemap.engine.phase import TASK_KEYS, without
from montemap.engine.run import ExecutionRun
from montemap.errors import RUNTIME

if TYPE_CHECKING:
    from montemap.engine.engine import Engine

#: How long after its end an execution can be redriven (AWS: 14 days).
REDRIVE_PERIOD = timedelta(days=14)
#: Statuses an execution can be redriven from.
REDRIVABLE_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
#: Phase entries that tie a state to its children and survive a redrive.
_KEPT_TASK_KEYS = frozenset({"task_children", "task_started", "task_map_run"})
_RETRY_KEYS = frozenset({"retry_at", "retries", "retry_total"})
#: What a redriven frame forgets: its retries and its state's progress, but not the
#: children it started (they are redriven in turn).
_CLEARED_KEYS = _RETRY_KEYS | (TASK_KEYS - _KEPT_TASK_KEYS)


def not_redrivable(row: dict[str, Any], now: datetime, *, has_frames: bool) -> str | None:
    """Why the execution in ``row`` cannot be redriven through the API (None: it can)."""
    status = row["status"]
    if row.get("type") == "EXPRESS":
        return "Execution of an EXPRESS state machine cannot be redriven"
    if status not in REDRIVABLE_STATUSES:
        return f"Execution is {status} and cannot be redriven"
    if row.get("map_run_arn"):
        return "Execution is a child workflow of a Map Run; redrive the parent execution"
    if row.get("error") == RUNTIME and str(row.get("cause") or "").startswith(HISTORY_QUOTA_CAUSE):
        return "Execution history event limit exceeded"
    stop = row.get("stop_date")
    if stop is not None and now.timestamp() - stop > REDRIVE_PERIOD.total_seconds():
        return "Execution redrivable period exceeded"
    if not has_frames:
        return "Execution has no checkpoint to continue from"
    return None


def redrive_status(row: dict[str, Any], now: datetime) -> tuple[str, str | None]:
    """(redriveStatus, redriveStatusReason) as DescribeExecution reports them."""
    if row.get("map_run_arn") and row["status"] in REDRIVABLE_STATUSES:
        return "REDRIVABLE_BY_MAP_RUN", None
    reason = not_redrivable(row, now, has_frames=True)
    return ("NOT_REDRIVABLE", reason) if reason else ("REDRIVABLE", None)


def redrive(engine: Engine, row: dict[str, Any]) -> datetime:
    """Redrive the execution in ``row`` (checks already made); the redrive date."""
    arn = row["arn"]
    frames = engine.store.frames(arn)
    if "" not in frames:
        raise ExecutionNotRedrivable(arn, "Execution has no checkpoint to continue from")
    for frame in frames.values():
        if frame.status == "SUCCEEDED":
            continue
        frame.status = "RUNNING"
        frame.error = None
        frame.cause = None
        frame.phase = without(frame.phase, _CLEARED_KEYS)
    now = engine.clock.now()
    count = int(row.get("redrive_count") or 0) + 1
    fields: dict[str, Any] = {
        "status": "RUNNING",
        "stop_date": None,
        "output": None,
        "error": None,
        "cause": None,
        "redrive_count": count,
        "redrive_date": now.timestamp(),
    }
    run = ExecutionRun(engine, {**row, **fields})
    run.commit(
        None,
        [Event("ExecutionRedriven", {"redriveCount": count})],
        frames=list(frames.values()),
        execution=fields,
    )
    engine.runs[arn] = run
    run.resume(frames)
    return now
