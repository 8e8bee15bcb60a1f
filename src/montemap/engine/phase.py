"""What a frame checkpoints about the state it is in (``FrameRow.phase``).

Stored as JSON in the ``frames.phase`` column and rewritten with every step, so a
restarted engine takes the state up where it stood. Every key is optional; the
``task_`` keys are a state's own progress (cleared when it is retried), the others
belong to the interpreter.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Phase(TypedDict, total=False):
    """The persisted progress of one frame through its current state."""

    # The interpreter's: when and at which event the state was entered.
    entered: int
    entered_time: str
    #: The Map item an iteration runs on (``$$.Map.Item``).
    map_item: dict[str, Any]
    # Retries: the attempt number, per-retrier counts, the total and the next time.
    attempt: int
    retries: dict[str, int]
    retry_total: int
    retry_at: str
    # A Task's progress: its token, whether it was scheduled, submitted, finished.
    task_token: str
    task_scheduled: bool
    task_submitted: bool
    task_result: Any
    task_done: bool
    #: Why a waited-for task lapsed ("heartbeat" or "timeout"), recorded with its event.
    task_timed_out: str
    # A Wait state's end time (ISO 8601).
    task_wait_until: str
    # Parallel and Map: the child frames' keys, whether they were started; the Map Run.
    task_children: list[str]
    task_started: bool
    task_map_run: str
    #: A failed frame's: the other names its error matches (States.HeartbeatTimeout).
    also_matches: list[str]


#: The keys a state's own retry clears (its progress starts over).
TASK_KEYS: frozenset[str] = frozenset(
    key for key in Phase.__annotations__ if key.startswith("task_")
)


def without(phase: Phase, keys: frozenset[str] | set[str]) -> Phase:
    """``phase`` less ``keys`` (a new mapping; ``phase`` is left as it is)."""
    kept = {key: value for key, value in phase.items() if key not in keys}
    return kept  # type: ignore[return-value]  # a subset of a Phase's keys is a Phase
