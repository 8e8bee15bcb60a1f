"""The Starlette application: the Step Functions endpoint and a health check.

``POST /`` speaks the JSON 1.0 protocol; ``GET /health`` answers 200 when the
server is up. ``/console`` is reserved for the web console.

``POST /`` is the hot path (every activity poll and result), so it goes
straight from the ASGI call to the :class:`Dispatcher`, skipping Starlette's
middleware and routing; everything else goes through Starlette. Either way
the database's pending group commit is flushed before a response leaves
(:func:`montemap.engine.db.committed`): a response never acknowledges work
that a crash could still lose.

Before any of that, every request's ``Host`` and ``Origin`` are checked
against the server's :class:`~montemap.api.hosts.HostPolicy` (DNS rebinding,
cross-site pages), and ECS actions that start processes must pass
:func:`~montemap.api.hosts.may_start_processes`. Every error answer, whatever
service or part makes it, carries the refusals' security headers
(:func:`~montemap.api.hosts.contain_errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from montemap import __version__
from montemap.api import protocol
from montemap.api.actions import ACTIONS, Context
from montemap.api.actions.base import Params
from montemap.api.actions.state_machines import resolve
from montemap.api.engine_api import EngineApi
from montemap.api.errors import REFUSALS, to_api_error
from montemap.api.gc_tuning import server_collector
from montemap.api.hosts import SCOPE_KEY as HOSTS_SCOPE_KEY
from montemap.api.hosts import (
    HostPolicy,
    browser_mark,
    contain_errors,
    may_start_processes,
    refusal,
    refuse_from_browser,
)
from montemap.api.registry import Registry
from montemap.api.routing import JSON_SERVICES, ServiceApps, signing_service, unsigned_service
from montemap.api.unserved import unserved_response
from montemap.api.validation import operation_model, validate_input
from montemap.asl.definition import load_definition
from montemap.engine.db import committed
from montemap.errors import ApiError, DefinitionError

log = logging.getLogger("montemap.api")

#: Actions that may wait long for something to happen; cancelled when their client leaves.
LONG_POLLS = frozenset({"GetActivityTask"})
#: JSON-protocol actions whose input becomes a process on the host: only trusted
#: callers may send them (:func:`montemap.api.hosts.may_start_processes`).
PROCESS_STARTING_ECS_ACTIONS = (
    "RegisterTaskDefinition",
    "CreateService",
    "UpdateService",
    "RunTask",
)
PROCESS_STARTING_TARGETS = frozenset(
    f"AmazonEC2ContainerServiceV20141113.{action}" for action in PROCESS_STARTING_ECS_ACTIONS
)
#: The Task resource prefix of the ECS SDK integration (``montemap.ecs.ecs_integration``):
#: a state machine reaches the same ECS actions through it.
ECS_SDK_RESOURCE = "arn:aws:states:::aws-sdk:ecs:"
#: The ECS RunTask integration (``montemap.ecs.ecs_integration.RUN_TASK_PREFIX``, with
#: ``.sync`` or ``.waitForTaskToken`` after it): its ``Overrides`` name the command.
ECS_RUN_TASK_RESOURCE = "arn:aws:states:::ecs:runTask"
#: Task resources that reach, through another API, what may start a process: every
#: AWS SDK integration of Step Functions, Lambda, CloudFormation, IAM and STS
#: (``montemap.api.sdk_integration``: a machine can define and start another machine,
#: deploy code or a template, or mint credentials) and a nested execution's start.
REACHING_RESOURCES = (
    *(f"arn:aws:states:::aws-sdk:{name}:" for name in ("sfn", "lambda", "cloudformation")),
    *(f"arn:aws:states:::aws-sdk:{name}:" for name in ("iam", "sts")),
    "arn:aws:states:::states:startExecution",
)
#: Step Functions actions that define or start a state machine: from a browser they are
#: refused when the machine's definition names a process-starting ECS action, a
#: resource of :data:`REACHING_RESOURCES`, or a Task Resource computed by JSONata.
MACHINE_ACTIONS = frozenset(
    {"CreateStateMachine", "UpdateStateMachine", "StartExecution", "RedriveExecution"}
)

#: Checks a request's credentials before it is dispatched: return to accept,
#: raise ``ApiError`` (e.g. ``UnrecognizedClientException``, status 403) to refuse.
#: It receives the request and its raw body (SigV4 signs the body's hash).
Authenticator = Callable[[Request, bytes], Awaitable[None]]

#: Serves another AWS JSON service on the same endpoint (e.g. the ECS subset):
#: called with the request and its body, already size-checked and authenticated.
ServiceEndpoint = Callable[[Request, bytes], Awaitable[Response]]


class Dispatcher:
    """Turns one protocol request into an action call and one response.

    This is the one place where exceptions become responses: ``ApiError`` and
    the engine's refusals (mapped by :mod:`montemap.api.errors`) as AWS sends them, anything unexpected as a 500 ``InternalFailure`` whose body
    carries the request id but never the stack trace (that goes to the log).
    """

    def __init__(
        self,
        ctx: Context,
        authenticator: Authenticator | None,
        services: Mapping[str, ServiceEndpoint] | None = None,
    ) -> None:
        self.ctx = ctx
        self.authenticator = authenticator
        self.services = dict(services or {})

    async def dispatch(self, request: Request) -> Response:
        """The response to one request, sent only after what it reports is committed."""
        request_id = protocol.new_request_id()
        response = await self._respond(request, request_id)
        try:
            await committed()
        except Exception:
            log.exception("could not commit before answering request %s", request_id)
            return protocol.error_response(_internal_failure(request_id), request_id=request_id)
        return response

    async def _respond(self, request: Request, request_id: str) -> Response:
        try:
            body = await protocol.read_body(request)
            if self.authenticator is not None:
                await self.authenticator(request, body)
            target = request.headers.get("x-amz-target", "")
            if target in PROCESS_STARTING_TARGETS:
                try:
                    may_start_processes(request.scope)
                except ApiError as refused:  # in ECS's shape, not Step Functions'
                    return refusal(request.scope, refused)
            for prefix, endpoint in self.services.items():
                if target.startswith(prefix):
                    return await endpoint(request, body)
            result = await self._handle(request, body)
        except REFUSALS as exc:
            return protocol.error_response(to_api_error(exc), request_id=request_id)
        except ClientDisconnect:
            log.debug("client went away during request %s", request_id)
            return Response(status_code=400)
        except Exception:
            log.exception("internal error handling request %s", request_id)
            return protocol.error_response(_internal_failure(request_id), request_id=request_id)
        return protocol.json_response(result, request_id=request_id)

    async def _handle(self, request: Request, body: bytes) -> dict[str, object]:
        name = protocol.action_name(request)
        protocol.check_content_type(request)
        operation = _operation(name)
        if operation is None:
            raise protocol.unknown_operation(f"Unknown operation '{name}'")
        handler = ACTIONS.get(name)
        if handler is None:
            raise protocol.unknown_operation(f"Operation '{name}' is not supported by montemap")
        params = validate_input(operation, protocol.parse_body(body))
        if name in MACHINE_ACTIONS:
            mark = browser_mark(request.scope)
            if mark is not None:
                _refuse_process_starting_machine(self.ctx, name, params, mark)
        if name in LONG_POLLS:
            return await _unless_disconnected(request, handler(self.ctx, params))
        return await handler(self.ctx, params)


def _refuse_process_starting_machine(ctx: Context, name: str, params: Params, mark: str) -> None:
    """Refuse a browser request defining, or starting, a machine whose Tasks start processes.

    Such a machine (``arn:aws:states:::aws-sdk:ecs:registerTaskDefinition``, then
    ``createService``...) runs any command its definition or its input names: that
    would let a web page do through Step Functions what the ECS actions refuse it.
    A definition that does not parse, or a machine that does not exist, is left to
    the action to report.
    """
    texts: list[str] = []
    try:
        if name in ("CreateStateMachine", "UpdateStateMachine"):
            if isinstance(params.get("definition"), str):
                texts.append(params["definition"])
            if name == "UpdateStateMachine":
                texts.append(resolve(ctx, params["stateMachineArn"]).definition)
        elif name == "StartExecution":
            texts.append(resolve(ctx, params["stateMachineArn"]).definition)
        else:
            texts.append(
                ctx.engine.describe_execution_definition(params["executionArn"]).definition
            )
    except REFUSALS:
        pass
    for text in texts:
        try:
            definition = load_definition(text)
        except DefinitionError:
            continue
        resource = _process_starting_resource(definition)
        if resource is not None:
            raise refuse_from_browser(mark, f"a state machine with the Task resource {resource!r}")


def _process_starting_resource(definition: object) -> str | None:
    """The first string of ``definition`` naming a process-starting ECS integration (the
    SDK's RegisterTaskDefinition, CreateService, UpdateService, RunTask; ``ecs:runTask``),
    a resource of :data:`REACHING_RESOURCES`, or a Task Resource that JSONata computes
    (which could be any of them)."""
    pending = [definition]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            resource = value.get("Resource")
            if isinstance(resource, str) and resource.lstrip().startswith("{%"):
                return resource
            pending.extend(value.values())
        elif isinstance(value, str) and value.startswith(REACHING_RESOURCES):
            return value
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.startswith(ECS_RUN_TASK_RESOURCE):
            return value
        elif isinstance(value, str) and value.startswith(ECS_SDK_RESOURCE):
            action = value[len(ECS_SDK_RESOURCE) :].split(".", 1)[0]
            if action[:1].upper() + action[1:] in PROCESS_STARTING_ECS_ACTIONS:
                return value
    return None


@functools.lru_cache(maxsize=256)  # bounded: the names come from clients
def _operation(name: str) -> OperationModel | None:
    """The service model's operation (looked up once per action name)."""
    return operation_model(name)


def _internal_failure(request_id: str) -> ApiError:
    return ApiError(
        "InternalFailure",
        f"The request processing has failed because of an internal error (request id {request_id})",
        status=500,
    )


async def _unless_disconnected(
    request: Request, work: Coroutine[Any, Any, dict[str, Any]]
) -> dict[str, Any]:
    """Run a long poll, cancelling it as soon as its client disconnects.

    A poller that gave up (read timeout, killed worker) must not be handed an
    activity task it will never receive. The engine claims a task without
    awaiting in between, so a cancelled poll never holds a claimed task; a
    client that leaves at the very moment a task is claimed still loses it
    (as on AWS), and the state's heartbeat or timeout recovers it.

    A poll that finds a task at once finishes in its first step; the
    disconnect watcher is only started for a poll that has to wait.
    """
    # The poll's first step runs here, without a task: it finishes at once when a task
    # was waiting (the common case under load); else the rest of it becomes a task.
    try:
        blocked_on = work.send(None)
    except StopIteration as finished:
        result: dict[str, Any] = finished.value
        return result
    except BaseException:
        work.close()
        raise
    task = asyncio.ensure_future(_resumed(work, blocked_on))

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            raise ClientDisconnect()
        raise
    finally:
        if not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


class _Resume:
    """Awaitable that goes on with a coroutine already started by hand.

    ``first`` is what the coroutine's first step yielded (the future it waits
    on); values, exceptions and cancellation pass through as with ``await``.
    """

    def __init__(self, coro: Coroutine[Any, Any, dict[str, Any]], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, dict[str, Any]]:
        value = self.first
        while True:
            try:
                sent = yield value
            except BaseException as exc:
                try:
                    value = self.coro.throw(exc)
                except StopIteration as finished:
                    result: dict[str, Any] = finished.value
                    return result
            else:
                try:
                    value = self.coro.send(sent)
                except StopIteration as finished:
                    result = finished.value
                    return result


async def _resumed(coro: Coroutine[Any, Any, dict[str, Any]], first: Any) -> dict[str, Any]:
    return await _Resume(coro, first)


class ApiApp(Starlette):
    """Starlette, with ``POST /`` served by the dispatcher directly (the hot path).

    Requests for the other services on the endpoint (S3, Lambda, CloudFormation,
    IAM: :mod:`montemap.api.routing`) go to their own applications, registered
    with :meth:`add_service`.
    """

    def __init__(
        self, dispatcher: Dispatcher, *, hosts: HostPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.dispatcher = dispatcher
        #: The Host/Origin policy every request is checked against first; ``None`` (an
        #: app built for in-process tests) checks nothing. Servers always set one.
        self.hosts = hosts
        self.service_apps = ServiceApps(rest={}, query={})

    def add_service(self, name: str, app: ASGIApp, *, query: bool = False) -> None:
        """Serve SigV4 service ``name`` (``"s3"``, ``"lambda"``, ``"cloudformation"``) with ``app``."""
        table = self.service_apps.query if query else self.service_apps.rest
        assert isinstance(table, dict)
        table[name] = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                # The server's whole life, whatever lifespan handler its assembler set
                # (``montemap.assembly`` replaces create_app's): the collector's tuning.
                with server_collector():
                    await super().__call__(scope, receive, send)
                return
            await super().__call__(scope, receive, send)
            return
        send = contain_errors(send)  # every error answer, whichever service makes it
        if self.hosts is not None:
            scope[HOSTS_SCOPE_KEY] = self.hosts
            try:
                self.hosts.check(scope)
            except ApiError as exc:
                await refusal(scope, exc)(scope, receive, send)
                return
        if self.service_apps.rest or self.service_apps.query:
            unrouted = await self._route_service(scope, receive, send)
            if unrouted is None:
                return
            receive = unrouted  # it may have read the body: this hands it out again
        if scope["path"] == "/" and scope["method"] == "POST":
            scope["app"] = self
            response = await self.dispatcher.dispatch(Request(scope, receive))
            await response(scope, receive, send)
            return

        async def durable_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await committed()
            await send(message)

        await super().__call__(scope, receive, durable_send)

    async def _route_service(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Hand a request for another service to its application.

        ``None`` when it was one; else the ``receive`` the rest of the app must use
        (a form-encoded body read here to find its ``Version`` is handed out again:
        with the original, the dispatcher would wait for a body already consumed).
        """
        signed = signing_service(scope)
        if signed is not None:
            if signed in JSON_SERVICES:
                return receive
            app = self.service_apps.get(signed)
            if app is None:  # a service this endpoint does not serve: say so in its protocol
                await unserved_response(scope, signed)(scope, receive, send)
                return None
            await _call(signed, app, scope, receive, send)
            return None
        service = unsigned_service(scope)
        if service is None or service == "json":
            return receive
        if service == "query" or service in self.service_apps.query:
            try:
                body, receive = await _buffered(receive, _declared_length(scope))
            except _FormTooLarge:
                await _form_too_large()(scope, receive, send)
                return None
            version = parse_qs(body.decode("latin-1")).get("Version", [""])[0]
            service = unsigned_service(scope, version) or "query"
        app = self.service_apps.get(service)
        if app is None:
            return receive
        await _call(service, app, scope, receive, send)
        return None


#: Services that write nothing to the database: their answers need not wait for its commit.
DATABASE_FREE_SERVICES = frozenset({"s3"})


async def _call(service: str, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    if service in DATABASE_FREE_SERVICES:
        await app(scope, receive, send)
    else:
        await _call_durably(app, scope, receive, send)


async def _call_durably(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Call ``app``, holding its response until the database's group commit is flushed."""

    async def durable_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await committed()
        await send(message)

    await app(scope, receive, durable_send)


#: The largest form-encoded body read to find its ``Version`` (the query services'
#: own limit, CloudFormation's: a 1 MB template, form-encoded); it is read before any
#: authentication, so it must not grow with what a client sends.
MAX_FORM_BODY = 4 * 1024 * 1024


class _FormTooLarge(Exception):
    """A form-encoded body over :data:`MAX_FORM_BODY` (declared or sent)."""


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = bytes(value).decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _form_too_large() -> Response:
    request_id = protocol.new_request_id()
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
        f"<Message>Request body exceeds the maximum request size of {MAX_FORM_BODY} bytes"
        f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers = {"x-amzn-RequestId": request_id, "connection": "close"}
    return Response(body, 413, headers, "text/xml")


async def _buffered(receive: Receive, declared: int | None = None) -> tuple[bytes, Receive]:
    """Read a request's whole body (at most :data:`MAX_FORM_BODY` bytes, else
    :class:`_FormTooLarge`); a ``receive`` that hands it out again."""
    if declared is not None and declared > MAX_FORM_BODY:
        raise _FormTooLarge()
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BODY:
            raise _FormTooLarge()
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "service": "montemap", "version": __version__})


def create_app(
    *,
    engine: EngineApi,
    registry: Registry,
    authenticator: Authenticator | None = None,
    services: Mapping[str, ServiceEndpoint] | None = None,
    bind_definition: Callable[[str], str] | None = None,
    manage_engine: bool = True,
    hosts: HostPolicy | None = None,
) -> Starlette:
    """The API application around an engine and a registry.

    ``services`` maps an ``X-Amz-Target`` prefix (``"AmazonEC2ContainerServiceV20141113."``)
    to the endpoint serving that service on ``POST /``. ``hosts`` is the Host/Origin
    policy checked before anything else (:mod:`montemap.api.hosts`). With ``manage_engine`` the
    application's lifespan starts the engine (which resumes running executions)
    and closes it on shutdown.
    """
    ctx = (
        Context(engine=engine, registry=registry, bind_definition=bind_definition)
        if bind_definition is not None
        else Context(engine=engine, registry=registry)
    )
    dispatcher = Dispatcher(ctx, authenticator, services)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_engine:
            await engine.start()
        try:
            yield
        finally:
            if manage_engine:
                await engine.close()

    return ApiApp(
        dispatcher,
        hosts=hosts,
        routes=[
            Route("/", dispatcher.dispatch, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
