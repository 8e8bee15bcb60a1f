"""How an execution's end is recorded: its last history event and its row's new fields."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from montemap.engine.dataflow import dumps
from montemap.engine.db import background
from montemap.engine.dbfail import is_storage_error
from montemap.engine.history import Event, payload_details

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun

log = logging.getLogger("montemap.engine.run")  # the run's own log


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


async def end_later(
    run: ExecutionRun, status: str, events: list[Event], fields: dict[str, Any], follows: str | None
) -> None:
    """Save ``run``'s end (``events``, the first following frame ``follows``'s last) once
    the database commits again: ``END_ATTEMPTS`` tries with backoff, on the engine's clock."""
    from montemap.engine import run as tries  # its settings, as tests may change them

    background.set(True)
    engine = run.engine
    for attempt in range(tries.END_ATTEMPTS):
        delay = min(tries.SAVE_RETRY_MAX, tries.SAVE_RETRY_FIRST * 2**attempt)
        await engine.clock.sleep_until(engine.clock.now() + timedelta(seconds=delay))
        try:
            with engine.db.transaction():
                run.commit(None, events, execution=fields, follows=follows)
                run.tidy(status)
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            continue
        engine.execution_finished(run, fields)
        return
    log.error(
        "execution %s ended %s but the database could not save it; it stays RUNNING "
        "there and resumes when the server restarts",
        run.arn,
        status,
    )
