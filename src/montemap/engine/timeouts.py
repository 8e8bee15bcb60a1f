"""How long an execution may run: its definition's ``TimeoutSeconds``, and for an
EXPRESS execution at most five minutes (AWS's Express Workflows quota; past it the
execution ends TIMED_OUT)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The longest an EXPRESS execution runs, in seconds.
EXPRESS_MAX_SECONDS = 300


def execution_timeout(definition: Mapping[str, Any], row: Mapping[str, Any]) -> int | None:
    """Seconds the execution in ``row`` may run (None: no limit)."""
    timeout = definition.get("TimeoutSeconds")
    own: int | None = None
    # A whole number, however JSON writes it: ``2.0`` is accepted at create time as 2.
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        own = (
            timeout
            if isinstance(timeout, int)
            else (int(timeout) if timeout.is_integer() else None)
        )
    if row.get("type") == "EXPRESS":
        return EXPRESS_MAX_SECONDS if own is None else min(own, EXPRESS_MAX_SECONDS)
    return own
