"""JSON for the live views (``/console/api/...``), polled by ``console.js``.

Each answer is cheap: the execution view reads only the history events after
the client's ``after`` id and keeps per-state counters in memory; the Map Run
view reads its in-memory counters and a bounded list of failures.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from montemap.console import views
from montemap.console.app import Console, required, whole_number
from montemap.console.security import Refused
from montemap.console.services import services_view


def _after(request: Request) -> int:
    text = request.query_params.get("after", "0")
    after = whole_number(text, 12)
    if after is None:
        raise Refused(400, f"'after' must be an event id (a whole number), not {text[:20]!r}.")
    return after


async def executions(c: Console, request: Request) -> Response:
    """Executions newest first (``arn``: of one state machine; ``status``: one status)."""
    status = request.query_params.get("status") or None
    rows, token = views.executions(
        c.engine,
        c.registry,
        state_machine_arn=request.query_params.get("arn") or None,
        status=status,
        next_token=request.query_params.get("token") or None,
    )
    return c.json({"executions": rows, "nextToken": token})


async def execution(c: Console, request: Request) -> Response:
    """An execution's header, state statuses, Map Runs and its events after ``after``."""
    arn = required(request.query_params, "arn")
    after = _after(request)
    record = c.engine.describe_execution(arn)
    progress = c.progress.get(arn)
    events, more = views.events(c.engine, arn, after)
    header = views.execution(record)
    if record.status != "RUNNING":
        header["output"] = record.output
    return c.json(
        {
            "execution": header,
            "states": progress.snapshot(),
            "mapRuns": views.map_runs(c.engine, arn),
            "events": events,
            "more": more,
        }
    )


#: An ended execution's redrive statuses that let it (or its Map Runs) run again.
REDRIVABLE = ("REDRIVABLE", "REDRIVABLE_BY_MAP_RUN")


async def map_run(c: Console, request: Request) -> Response:
    """A Map Run's item and batch counters, rates and failed batches, and whether a
    redrive of its execution may run it again (the page keeps watching for one)."""
    view = views.map_run(c.engine, required(request.query_params, "arn"))
    parent = c.engine.describe_execution(view["executionArn"])
    view["redrivable"] = view["status"] != "RUNNING" and parent.redrive_status in REDRIVABLE
    return c.json(view)


async def services(c: Console, request: Request) -> Response:
    """Clusters, services and their counts, task definitions."""
    return c.json(await services_view(c.ecs))
