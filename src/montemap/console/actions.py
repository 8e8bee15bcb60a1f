"""The console's actions (POST, behind the CSRF checks): start, stop, update a service."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from montemap.api.errors import REFUSALS, to_api_error
from montemap.console import machines, pages
from montemap.console.app import Console, required, whole_number
from montemap.console.security import Refused
from montemap.errors import ApiError

#: The error and cause an execution stopped from the console records.
STOP_ERROR = "Console.Stopped"
STOP_CAUSE = "Stopped from the montemap console"


def _see(path: str, **query: str) -> Response:
    args = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return RedirectResponse(f"/console/{path}?{args}" if args else f"/console/{path}", 303)


def _count(form: dict[str, str], name: str) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    count = whole_number(text, 6)
    if count is None:
        raise Refused(400, f"{name} must be a whole number from 0 to 999999, not {text[:20]!r}.")
    return count


async def start(c: Console, request: Request) -> Response:
    """Start an execution of a state machine, version or alias with the form's name and
    input (as StartExecution: an alias picks its version, an EXPRESS one gets its id)."""
    form: dict[str, str] = request.state.form
    arn = required(form, "arn", "form")
    machines.subject(c.registry, arn)  # 404 for an unknown one, before anything is read
    name = form.get("name", "").strip() or None
    text = form.get("input", "").strip() or "{}"
    try:
        started = await machines.start(c.engine, c.registry, arn, name, text)
    except REFUSALS as exc:
        message = f"{to_api_error(exc).code}: {exc}"
        return pages.render_state_machine(
            c, request, arn, error=message, start_input=text, start_name=name or ""
        )
    return _see("execution", arn=started)


async def stop(c: Console, request: Request) -> Response:
    """Stop a running execution (as StopExecution with the console's error and cause)."""
    form: dict[str, str] = request.state.form
    arn = required(form, "arn", "form")
    await c.engine.stop_execution(arn, error=STOP_ERROR, cause=STOP_CAUSE)
    return _see("execution", arn=arn)


async def update_service(c: Console, request: Request) -> Response:
    """Switch a service's task definition and/or set its desired count (ECS UpdateService)."""
    form: dict[str, str] = request.state.form
    params: dict[str, object] = {
        "cluster": required(form, "cluster", "form"),
        "service": required(form, "service", "form"),
    }
    desired = _count(form, "desiredCount")
    if desired is not None:
        params["desiredCount"] = desired
    if form.get("taskDefinition", "").strip():
        params["taskDefinition"] = form["taskDefinition"].strip()
    try:
        await c.ecs.handle_ecs("UpdateService", params)
    except ApiError as exc:
        return await pages.render_services(c, request, f"{exc.code}: {exc.message}")
    return _see("services", done=f"Updated service {params['service']}.")


async def create_service(c: Console, request: Request) -> Response:
    """Create a worker service (ECS CreateService) from a task definition."""
    form: dict[str, str] = request.state.form
    params: dict[str, object] = {
        "cluster": required(form, "cluster", "form"),
        "serviceName": required(form, "serviceName", "form"),
        "taskDefinition": required(form, "taskDefinition", "form"),
        "desiredCount": _count(form, "desiredCount") or 0,
    }
    try:
        await c.ecs.handle_ecs("CreateService", params)
    except ApiError as exc:
        return await pages.render_services(c, request, f"{exc.code}: {exc.message}")
    return _see("services", done=f"Created service {params['serviceName']}.")
