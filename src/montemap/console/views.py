"""What the console shows, read straight from the engine's stores as JSON-ready dicts.

Every function here is a cheap read: one indexed query or an in-memory
counter, so the live views can poll them every second.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from montemap.api.actions.base import Context
from montemap.api.actions.executions import list_page
from montemap.api.paging import resuming
from montemap.api.registry import Registry
from montemap.engine.engine import Engine
from montemap.engine.history import render
from montemap.engine.records import ExecutionRecord
from montemap.errors import ApiError

#: Execution statuses the lists can be filtered by.
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
#: The most events one poll returns (the page asks again at once while more remain).
EVENTS_PER_POLL = 500
#: Failed batches a Map Run page lists, per status.
FAILURES_SHOWN = 25
#: Map Runs an execution page shows.
MAP_RUNS_SHOWN = 100
#: Characters of a batch input shown with a failure.
INPUT_SHOWN = 4000


def iso(moment: datetime | float | None) -> str | None:
    """``2026-01-02T03:04:05.678Z`` (UTC) or None."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def seconds(start: datetime | float, stop: datetime | float | None) -> float:
    """From ``start`` to ``stop`` (or now), in seconds."""

    def epoch(moment: datetime | float) -> float:
        return moment.timestamp() if isinstance(moment, datetime) else float(moment)

    return max(0.0, (time.time() if stop is None else epoch(stop)) - epoch(start))


def execution(record: ExecutionRecord) -> dict[str, Any]:
    """One execution's header (no input or output)."""
    return {
        "arn": record.execution_arn,
        "name": record.name,
        "stateMachineArn": record.state_machine_arn,
        "stateMachineName": record.state_machine_arn.split(":")[6]
        if record.state_machine_arn.count(":") >= 6
        else record.state_machine_arn,
        "status": record.status,
        "startDate": iso(record.start_date),
        "stopDate": iso(record.stop_date),
        "durationS": round(seconds(record.start_date, record.stop_date), 3),
        "error": record.error,
        "cause": record.cause,
        "mapRunArn": record.map_run_arn,
        "redriveCount": record.redrive_count,
        "redriveStatus": record.redrive_status,
    }


def executions(
    engine: Engine,
    registry: Registry,
    *,
    state_machine_arn: str | None,
    status: str | None,
    next_token: str | None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Executions newest first, optionally of one state machine (version, alias: those
    ListExecutions lists) and one status."""
    if status is not None and status not in STATUSES:
        raise ApiError("ValidationException", f"unknown status filter {status!r}")
    with resuming(next_token):  # a forged token past SQLite's integers: InvalidToken
        records, token = list_page(
            Context(engine=engine, registry=registry),
            machine_arn=state_machine_arn,
            map_run_arn=None,
            status=status,
            size=limit,
            token=next_token,
        )
    return [execution(r) for r in records], token


def events(engine: Engine, arn: str, after: int) -> tuple[list[dict[str, Any]], bool]:
    """Events after id ``after`` (at most :data:`EVENTS_PER_POLL`) and whether more remain."""
    rows = engine.store.events(arn, reverse=False, after_id=after, limit=EVENTS_PER_POLL + 1)
    out = []
    for r in rows[:EVENTS_PER_POLL]:
        event = render(
            r["id"],
            r["previous_id"],
            r["type"],
            datetime.fromtimestamp(r["timestamp"], UTC),
            json.loads(r["details"]) if r["details"] else None,
        )
        event["timestamp"] = r["timestamp"]
        out.append(event)
    return out, len(rows) > EVENTS_PER_POLL


def map_runs(engine: Engine, execution_arn: str) -> list[dict[str, Any]]:
    """The Map Runs an execution started, with their counters."""
    listed = engine.map_runs.list(execution_arn, after_seq=None, limit=MAP_RUNS_SHOWN)
    return [map_run(engine, m["mapRunArn"], failures=False) for m in listed]


def map_run(engine: Engine, arn: str, *, failures: bool = True) -> dict[str, Any]:
    """A Map Run's counters and rates, and (with ``failures``) its failed batches."""
    run = engine.map_runs.describe(arn)
    start: datetime = run["startDate"]
    stop: datetime | None = run.get("stopDate")
    elapsed = seconds(start, stop)
    items, batches = dict(run["itemCounts"]), dict(run["executionCounts"])
    done = items["succeeded"] + items["failed"] + items["timedOut"] + items["aborted"]
    out: dict[str, Any] = {
        "arn": arn,
        "label": arn.split(":")[6] if arn.count(":") >= 7 else arn,
        "executionArn": run["executionArn"],
        "status": run["status"],
        "startDate": iso(start),
        "stopDate": iso(stop),
        "durationS": round(elapsed, 3),
        "maxConcurrency": run["maxConcurrency"],
        "toleratedFailureCount": run["toleratedFailureCount"],
        "toleratedFailurePercentage": run["toleratedFailurePercentage"],
        "items": items,
        "batches": batches,
        "itemsPerSecond": round(done / elapsed, 3) if elapsed > 0 else 0.0,
        "batchesPerSecond": round(
            (batches["total"] - batches["running"] - batches["pending"]) / elapsed, 3
        )
        if elapsed > 0
        else 0.0,
    }
    if failures:
        out["failures"] = failed_batches(engine, arn)
    return out


def failed_batches(engine: Engine, map_run_arn: str) -> list[dict[str, Any]]:
    """The latest failed, timed-out and aborted child executions of a Map Run."""
    found: list[dict[str, Any]] = []
    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        rows = engine.store.list_executions(
            state_machine_arn=None,
            map_run_arn=map_run_arn,
            status=status,
            after_seq=None,
            limit=FAILURES_SHOWN,
        )
        for row in rows:
            text = row["input"] or ""
            found.append(
                {
                    "arn": row["arn"],
                    "name": row["name"],
                    "status": row["status"],
                    "error": row["error"],
                    "cause": row["cause"],
                    "input": text[:INPUT_SHOWN],
                    "inputTruncated": len(text) > INPUT_SHOWN,
                    "stopDate": iso(row["stop_date"]),
                }
            )
    found.sort(key=lambda f: f["stopDate"] or "", reverse=True)
    return found[:FAILURES_SHOWN]


def latest_input(engine: Engine, state_machine_arn: str) -> str | None:
    """The input of the state machine's newest execution, pretty-printed, if any."""
    records, _ = engine.list_executions(
        state_machine_arn=state_machine_arn,
        map_run_arn=None,
        status=None,
        max_results=1,
        next_token=None,
    )
    if not records or records[0].input is None:
        return None
    try:
        return json.dumps(json.loads(records[0].input), indent=2)
    except ValueError:
        return records[0].input
