"""The console's pages (GET): server-rendered HTML that the page scripts keep live."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from montemap.api import shapes
from montemap.api.actions.base import Context
from montemap.api.actions.executions import qualified
from montemap.api.errors import REFUSALS
from montemap.console import compare as cmp
from montemap.console import machines, results, views
from montemap.console.app import Console, required
from montemap.console.graph import render_svg
from montemap.console.security import REPORT_POLICY, Refused
from montemap.console.services import services_view
from montemap.engine.records import ExecutionRecord
from montemap.workflows import pricing

#: How many Distributed Maps deep a child execution's page looks for its state machine.
_NESTING = 8


def _status_filter(request: Request) -> str | None:
    status = request.query_params.get("status") or None
    if status is not None and status not in views.STATUSES:
        raise Refused(
            400, f"Unknown status filter {status!r}: use one of {', '.join(views.STATUSES)}."
        )
    return status


async def home(c: Console, request: Request) -> Response:
    status = _status_filter(request)
    token = request.query_params.get("token") or None
    rows, next_token = views.executions(
        c.engine, c.registry, state_machine_arn=None, status=status, next_token=token
    )
    return c.render(
        request,
        "home.html",
        machines=c.registry.list_state_machines(),
        executions=rows,
        status_filter=status,
        statuses=views.STATUSES,
        next_token=next_token,
        list_arn="",
    )


async def state_machine(c: Console, request: Request) -> Response:
    return render_state_machine(c, request, required(request.query_params, "arn"))


def render_state_machine(
    c: Console,
    request: Request,
    arn: str,
    *,
    error: str | None = None,
    start_input: str | None = None,
    start_name: str = "",
) -> Response:
    """A state machine, version or alias: its graph, executions (those ListExecutions
    lists for that ARN), and the start form (with ``error``, 400)."""
    shown = machines.subject(c.registry, arn)
    status = _status_filter(request)
    token = request.query_params.get("token") or None
    rows, next_token = views.executions(
        c.engine, c.registry, state_machine_arn=arn, status=status, next_token=token
    )
    try:
        graph = render_svg(json.loads(shown.definition))
    except ValueError:
        graph = None
    return c.render(
        request,
        "state_machine.html",
        status=400 if error else 200,
        machine=shown.machine,
        shown=shown,
        graph=graph,
        executions=rows,
        status_filter=status,
        statuses=views.STATUSES,
        next_token=next_token,
        list_arn=arn,
        default_input=start_input
        if start_input is not None
        else views.latest_input(c.engine, arn) or "{}",
        start_name=start_name,
        error=error,
    )


def _results(c: Console, output_text: str | None) -> dict[str, Any]:
    output = results.parse_output(output_text)
    columns, rows = results.scenarios(output)
    return {
        "figures": results.figures(output),
        "columns": columns,
        "rows": rows,
        "chart": results.scenario_chart(output),
        "has_report": c.reports.exists(output),
    }


def _machine_of(c: Console, record: ExecutionRecord) -> str | None:
    """The state machine (or version, alias) page an execution belongs to: a Map Run's
    child execution runs a Map state, not a state machine, so its top-level parent's."""
    for _ in range(_NESTING):
        if record.map_run_arn is None:
            return record.state_machine_arn
        try:
            parent = c.engine.map_runs.get(record.map_run_arn)["execution_arn"]
            record = c.engine.describe_execution(parent)
        except REFUSALS:
            return None
    return None


async def execution(c: Console, request: Request) -> Response:
    arn = required(request.query_params, "arn")
    record = c.engine.describe_execution(arn)
    machine_arn = _machine_of(c, record)
    definition = c.engine.describe_execution_definition(arn).definition
    try:
        graph = render_svg(json.loads(definition))
    except ValueError:
        graph = None
    # The version and the alias it ran through, named as DescribeExecution names them.
    ran = qualified(Context(engine=c.engine, registry=c.registry), shapes.execution_item(record))
    return c.render(
        request,
        "execution.html",
        ex=views.execution(record),
        arn=record.execution_arn,
        input=record.input,
        output=record.output,
        graph=graph,
        parent=record.map_run_arn,
        machine_arn=machine_arn,
        machine_name=":".join(machine_arn.split(":")[6:])  # name, name:3, name:PROD
        if machine_arn and machine_arn.count(":") >= 6
        else "",
        version_arn=ran.get("stateMachineVersionArn"),
        alias_arn=ran.get("stateMachineAliasArn"),
        results=_results(c, record.output) if record.status == "SUCCEEDED" else None,
    )


async def results_fragment(c: Console, request: Request) -> Response:
    """The results panel alone, fetched by the page when the execution ends."""
    arn = required(request.query_params, "arn")
    record = c.engine.describe_execution(arn)
    values = _results(c, record.output) if record.status == "SUCCEEDED" else None
    return c.render(request, "results.html", arn=arn, results=values)


async def map_run(c: Console, request: Request) -> Response:
    arn = required(request.query_params, "arn")
    run = views.map_run(c.engine, arn)
    return c.render(request, "map_run.html", run=run)


async def services(c: Console, request: Request) -> Response:
    return await render_services(c, request)


async def render_services(c: Console, request: Request, error: str | None = None) -> Response:
    """The worker services page (with ``error`` from a refused change, 400)."""
    view = await services_view(c.ecs)
    return c.render(
        request,
        "services.html",
        status=400 if error else 200,
        view=view,
        error=error,
        message=request.query_params.get("done"),
    )


async def compare(c: Console, request: Request) -> Response:
    a = required(request.query_params, "a")
    b = required(request.query_params, "b")
    store = c.montemap.ecs_store
    left, right = cmp.facts(c.engine, store, a), cmp.facts(c.engine, store, b)
    names = list(dict.fromkeys([*left.state_seconds, *right.state_seconds]))
    return c.render(
        request,
        "compare.html",
        a=left,
        b=right,
        ea=views.execution(left.record),
        eb=views.execution(right.record),
        ra=_results(c, left.record.output) if left.record.status == "SUCCEEDED" else None,
        rb=_results(c, right.record.output) if right.record.status == "SUCCEEDED" else None,
        states=names,
        change=cmp.change,
        prices=(pricing.SPOT_VCPU_HOUR, pricing.SPOT_GB_HOUR, pricing.PRICES_AS_OF),
    )


async def report(c: Console, request: Request) -> Response:
    arn = required(request.query_params, "arn")
    record = c.engine.describe_execution(arn)
    body = c.reports.read(results.parse_output(record.output))
    if body is None:
        raise Refused(404, "This execution's output names no report, or the report is missing.")
    response = Response(body, media_type="text/html; charset=utf-8")
    request.state.policy = REPORT_POLICY
    return response
