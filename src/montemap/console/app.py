"""The console's routes, mounted at ``/console`` on the server's Starlette app.

Pages are Jinja2 templates (autoescaped); live views poll small JSON
endpoints under ``/console/api/``; actions are POSTed forms checked by
:class:`~montemap.console.security.Guard`. Everything is read from and done
through the server's own objects (engine, registry, ECS), in process.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router, request_response

from montemap.api.errors import REFUSALS, to_api_error
from montemap.console.progress import ProgressCache
from montemap.console.reports import Reports
from montemap.console.results import format_number
from montemap.console.security import FIELD, PAGE_POLICY, Contained, Guard, Refused
from montemap.console.views import iso

if TYPE_CHECKING:
    import jinja2

    from montemap.assembly import Montemap

log = logging.getLogger("montemap.console")

HERE = Path(__file__).parent
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_STATIC_RE = re.compile(r"^[a-z0-9-]+\.(css|js)$")
_DIGITS_RE = re.compile(r"[0-9]+")
#: The largest form the console accepts (an execution input is at most 256 KiB).
MAX_FORM = 2 * 1024 * 1024

Handler = Callable[["Console", Request], Awaitable[Response]]


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def pretty(text: str | None) -> str:
    """A JSON document indented for reading (as it is when it is not JSON)."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


class Console:
    """The console's shared parts: the server, templates, the guard, progress cache."""

    def __init__(self, montemap: Montemap) -> None:
        self.montemap = montemap
        self.engine = montemap.engine
        self.registry = montemap.registry
        self.ecs = montemap.ecs
        settings = montemap.settings
        self.guard = Guard(
            loopback_only=settings.authenticator is not None, server_host=settings.host
        )
        self.progress = ProgressCache(self.engine.store)
        self.reports = Reports(self.engine.object_store, settings.data_dir.resolve())

    @cached_property
    def templates(self) -> jinja2.Environment:
        """The pages' templates, made on the first page (Jinja2 is imported then: a
        server that shows no page, as ``montemap run``'s, never imports it)."""
        import jinja2

        templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        templates.filters["pretty"] = pretty
        templates.filters["duration"] = format_duration
        templates.filters["iso"] = iso
        templates.filters["num"] = format_number
        return templates

    def render(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        template = self.templates.get_template(name)
        html = template.render(csrf_token=request.state.csrf_token, request=request, **values)
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def json(value: Any) -> Response:
        body = json.dumps(value, default=_json_default, ensure_ascii=False)
        return Response(body, media_type="application/json")

    def error_page(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status=status, message=message)

    def wrap(self, handler: Handler, *, post: bool = False, api: bool = False) -> Any:
        """The handler behind the guard, with errors turned into pages (or JSON)."""

        async def endpoint(request: Request) -> Response:
            token, new = Guard.token(request)
            request.state.csrf_token = token
            try:
                self.guard.check_request(request)
                if post:
                    Guard.check_origin(request)
                    form = await read_form(request)
                    request.state.form = form
                    Guard.check_token(request, form.get(FIELD))
                response = await handler(self, request)
            except Refused as exc:
                response = self._failure(request, exc.status, exc.reason, api)
            except REFUSALS as exc:
                refusal = to_api_error(exc)
                status = 404 if refusal.code.endswith(("DoesNotExist", "NotFound")) else 400
                response = self._failure(request, status, f"{refusal.code}: {exc}", api)
            except Exception:
                log.exception("console error on %s", request.url.path)
                message = "Internal error in the console; the server log has the details."
                response = self._failure(request, 500, message, api)
            policy = getattr(request.state, "policy", PAGE_POLICY)
            return Guard.finish(response, token, new, policy=policy)

        return endpoint

    def _failure(self, request: Request, status: int, message: str, api: bool) -> Response:
        if api:
            return JSONResponse({"error": message}, status_code=status)
        return self.error_page(request, status, message)


def format_duration(value: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return ""
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body as ``{name: last value}``, size-checked."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "Send the form as application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Refused(413, f"The form is larger than {MAX_FORM} bytes.")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=50, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, f"The form could not be read: {exc}")
    return {name: values[-1] for name, values in fields.items()}


def whole_number(text: str, max_digits: int) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits, else None
    (``str.isdigit`` also takes ``²`` and ``١``: ``int`` refuses the one, reads the other)."""
    if len(text) > max_digits or not _DIGITS_RE.fullmatch(text):
        return None
    return int(text)


def required(values: dict[str, str] | Any, name: str, where: str = "query") -> str:
    """A non-empty parameter, or 400 naming it."""
    value = values.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, f"Missing {where} parameter {name!r}.")
    return value.strip()


async def static(console: Console, request: Request) -> Response:
    name = request.path_params["name"]
    if not _STATIC_RE.match(name):
        raise Refused(404, f"No static file {name!r}.")
    path = HERE / "static" / name
    if not path.is_file():
        raise Refused(404, f"No static file {name!r}.")
    response = Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix])
    response.headers["Cache-Control"] = "no-cache"
    return response


def create_console(montemap: Montemap) -> Mount:
    """The console, to be mounted at ``/console``."""
    from montemap.console import actions, live, pages

    console = Console(montemap)
    w = console.wrap
    routes = [
        Route("/", w(pages.home), methods=["GET"]),
        Route("/state-machine", w(pages.state_machine), methods=["GET"]),
        Route("/execution", w(pages.execution), methods=["GET"]),
        Route("/execution/results", w(pages.results_fragment), methods=["GET"]),
        Route("/map-run", w(pages.map_run), methods=["GET"]),
        Route("/services", w(pages.services), methods=["GET"]),
        Route("/compare", w(pages.compare), methods=["GET"]),
        Route("/report", w(pages.report), methods=["GET"]),
        Route("/start", w(actions.start, post=True), methods=["POST"]),
        Route("/stop", w(actions.stop, post=True), methods=["POST"]),
        Route("/services/update", w(actions.update_service, post=True), methods=["POST"]),
        Route("/services/create", w(actions.create_service, post=True), methods=["POST"]),
        Route("/api/executions", w(live.executions, api=True), methods=["GET"]),
        Route("/api/execution", w(live.execution, api=True), methods=["GET"]),
        Route("/api/map-run", w(live.map_run, api=True), methods=["GET"]),
        Route("/api/services", w(live.services, api=True), methods=["GET"]),
        Route("/static/{name}", w(static), methods=["GET"]),
    ]
    # An unknown path is the console's 404 page; every answer carries the headers.
    router = Router(routes, default=request_response(w(_no_page)))
    return Mount("/console", app=Contained(router))


async def _no_page(console: Console, request: Request) -> Response:
    raise Refused(404, f"The console has no page {request.url.path!r}.")


async def _to_console(request: Request) -> Response:
    return RedirectResponse("/console/", status_code=307)


def console_routes(montemap: Montemap) -> list[BaseRoute]:
    """The console's Mount, and ``/console`` and ``GET /`` redirecting to it (``POST /``
    stays the API)."""
    return [
        create_console(montemap),
        Route("/console", Contained(request_response(_to_console))),
        Route("/", Contained(request_response(_to_console)), methods=["GET"]),
    ]
