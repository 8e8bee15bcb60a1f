"""History events in AWS's shape.

An event is stored as (id, previousEventId, type, timestamp, details); the API
renders it as AWS does: ``{"id", "previousEventId", "type", "timestamp",
"<detailsKey>": {...}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The start of the cause of an execution ended by the history quota (25,000 events).
HISTORY_QUOTA_CAUSE = "The execution reached the maximum number of events in its history"

#: State types whose Entered/Exited events share ``stateEntered``/``stateExited`` details.
_STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")


def details_key(event_type: str) -> str:
    """The member of a history event that holds its details."""
    for prefix in _STATE_TYPES:
        if event_type == f"{prefix}StateEntered":
            return "stateEnteredEventDetails"
        if event_type == f"{prefix}StateExited":
            return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


#: Event types that carry no details.
NO_DETAILS = frozenset(
    {
        "ParallelStateStarted",
        "ParallelStateSucceeded",
        "ParallelStateFailed",
        "ParallelStateAborted",
        "MapStateSucceeded",
        "MapStateFailed",
        "MapStateAborted",
        "WaitStateAborted",
        "MapRunSucceeded",
        "MapRunAborted",
    }
)


@dataclass(frozen=True)
class Event:
    """One history event before it is stored (the id is assigned on append)."""

    type: str
    details: dict[str, Any] | None = None


def payload_details(field: str, text: str) -> dict[str, Any]:
    """``{"input": text, "inputDetails": {"truncated": false}}`` and the like."""
    return {field: text, f"{field}Details": {"truncated": False}}


def render(
    event_id: int,
    previous_id: int,
    event_type: str,
    timestamp: datetime,
    details: dict[str, Any] | None,
    *,
    include_data: bool = True,
) -> dict[str, Any]:
    """The event as GetExecutionHistory returns it (timestamp still a datetime)."""
    out: dict[str, Any] = {
        "timestamp": timestamp,
        "type": event_type,
        "id": event_id,
        "previousEventId": previous_id,
    }
    if details is not None and event_type not in NO_DETAILS:
        if not include_data:
            details = {
                k: v for k, v in details.items() if k not in ("input", "output", "parameters")
            }
        out[details_key(event_type)] = details
    return out
