"""How an execution's end is recorded: its last history event and its row's new fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from montemap.engine.dataflow import dumps
from montemap.engine.history import Event, payload_details


def end_record(
    status: str,
    now: datetime,
    *,
    output: Any = None,
    error: str | None = None,
    cause: str | None = None,
) -> tuple[Event, dict[str, Any]]:
    """The end event and the execution's fields for ``status``, ended at ``now``."""
    fields: dict[str, Any] = {"status": status, "stop_date": now.timestamp()}
    if status == "SUCCEEDED":
        text = dumps(output)
        event = Event("ExecutionSucceeded", payload_details("output", text))
        fields["output"] = text
        return event, fields
    details: dict[str, Any] = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    kind = {"FAILED": "ExecutionFailed", "TIMED_OUT": "ExecutionTimedOut"}.get(
        status, "ExecutionAborted"
    )
    fields["error"] = error
    fields["cause"] = cause
    return Event(kind, details), fields
