"""A handler for the poll-ahead tests: held until the test releases it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from montemap.worker import TaskContext

#: How long a held task waits for its release at most (the test fails long before).
MAX_HOLD_S = 90.0


def held(event: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Writes ``started-<value>`` in ``marker_dir``; with ``hold`` true, returns only once
    ``release-<value>`` exists there (or the task is cancelled)."""
    folder = Path(event["marker_dir"])
    value = event["value"]
    (folder / f"started-{value}").write_text(str(os.getpid()))
    waited = 0.0
    while event.get("hold") and not (folder / f"release-{value}").exists():
        if context.wait(0.02) or waited > MAX_HOLD_S:  # polls the release file with a bound
            break
        waited += 0.02
    return {"value": value}
