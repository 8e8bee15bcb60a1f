"""A key for one attempt of one state entry: the same again after a restart.

A Task state that starts something outside the engine (a nested execution, an ECS
task) is run again from its entry when the server restarts before the state's end
was recorded. Naming what it starts by :func:`entry_key` (as a name, an idempotency
token) lets the second run find what the first one started instead of starting it
twice. The key changes with the attempt (a Retry starts anew) and the redrive.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun
    from montemap.engine.store import FrameRow

__all__ = ["entry_key"]


def entry_key(run: ExecutionRun, frame: FrameRow) -> bytes:
    """SHA-256 of the execution, the state's frame, entry, attempt and redrive."""
    key = "|".join(
        str(part)
        for part in (
            run.arn,
            frame.key,
            frame.phase.get("entered"),
            frame.phase.get("attempt", 0),
            run.row.get("redrive_count") or 0,
        )
    )
    return hashlib.sha256(key.encode()).digest()
