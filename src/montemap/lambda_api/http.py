"""The Lambda REST API (``/2015-03-31/functions...``) as an ASGI application.

Requests are placed on this application by :mod:`montemap.api.routing`;
this module authenticates them (SigV4 scoped to ``lambda`` when the server
has keys), matches path and method to an operation, and answers JSON, with
errors as :func:`montemap.lambda_api.errors.error_response` shapes them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from montemap.api.credentials import SigV4Authenticator
from montemap.api.errors import REFUSALS, to_api_error
from montemap.api.hosts import may_start_processes
from montemap.lambda_api import codeurl, eventstream
from montemap.lambda_api.errors import LambdaError, bad_content, error_response, invalid, too_large
from montemap.lambda_api.names import parse_function_name
from montemap.lambda_api.operations import operation_at
from montemap.lambda_api.service import LambdaService
from montemap.lambda_api.texts import refuse_lone_surrogates

log = logging.getLogger("montemap.lambda")

Authenticator = Callable[[Request, bytes], Awaitable[None]]
Handler = Callable[["Call"], Awaitable[Response]]

#: Largest request body read (a 50 MB zip, base64-encoded in JSON).
MAX_BODY = 70 * 1024 * 1024
#: Largest payload of a synchronous / an asynchronous invocation (Lambda's quotas).
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_EVENT_PAYLOAD = 1024 * 1024
#: Largest ``ClientContext`` (base64), Lambda's.
MAX_CLIENT_CONTEXT = 3583
_PREFIX = "/2015-03-31/functions"
#: What an AWS SDK running in a function puts in its User-Agent (``exec-env/...``).
_FUNCTION_AGENT = "exec-env/AWS_Lambda_"


class Call:
    """One request: its path parameters, query, headers and body."""

    def __init__(self, request: Request, body: bytes, params: dict[str, str]) -> None:
        self.request = request
        self.body = body
        self.params = params

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise bad_content(f"Could not parse request body into json: {exc}")
        if not isinstance(value, dict):
            raise bad_content("The request body must be a JSON object")
        refuse_lone_surrogates(value)
        return value

    def max_items(self) -> int:
        text = self.query("MaxItems") or "50"
        if not text.isdigit() or not 1 <= int(text) <= 10000:
            raise invalid(f"MaxItems must be a number from 1 to 10000, got {text!r}")
        return int(text)


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status_code=status, media_type="application/json")


class LambdaApp:
    """The ASGI application: ``await app(scope, receive, send)``."""

    def __init__(self, service: LambdaService, authenticator: Authenticator | None) -> None:
        self.service = service
        self.authenticator = authenticator
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        fn, alias = rf"{_PREFIX}/(?P<fn>[^/]+)", r"(?P<alias>[^/]+)"
        streaming = r"/2021-11-15/functions/(?P<fn>[^/]+)/response-streaming-invocations/?"
        invoke_config = r"/2019-09-25/functions/(?P<fn>[^/]+)/event-invoke-config"
        tags, concurrency = (
            r"/2017-03-31/tags/(?P<arn>[^/]+)/?",
            r"functions/(?P<fn>[^/]+)/concurrency/?",
        )
        for method, pattern, handler in (
            ("POST", rf"{_PREFIX}/?", self.create_function),
            ("GET", rf"{_PREFIX}/?", self.list_functions),
            ("GET", rf"{fn}/?", self.get_function),
            ("DELETE", rf"{fn}/?", self.delete_function),
            ("GET", rf"{fn}/configuration/?", self.get_configuration),
            ("PUT", rf"{fn}/configuration/?", self.update_configuration),
            ("PUT", rf"{fn}/code/?", self.update_code),
            ("POST", rf"{fn}/invocations/?", self.invoke),
            ("POST", streaming, self.invoke_streaming),
            ("POST", rf"{fn}/versions/?", self.publish_version),
            ("GET", rf"{fn}/versions/?", self.list_versions),
            ("POST", rf"{fn}/aliases/?", self.create_alias),
            ("GET", rf"{fn}/aliases/?", self.list_aliases),
            ("GET", rf"{fn}/aliases/{alias}/?", self.get_alias),
            ("PUT", rf"{fn}/aliases/{alias}/?", self.update_alias),
            ("DELETE", rf"{fn}/aliases/{alias}/?", self.delete_alias),
            ("POST", rf"{fn}/policy/?", self.add_permission),
            ("GET", rf"{fn}/policy/?", self.get_policy),
            ("DELETE", rf"{fn}/policy/(?P<sid>[^/]+)/?", self.remove_permission),
            ("GET", tags, self.list_tags),
            ("POST", tags, self.tag_resource),
            ("DELETE", tags, self.untag_resource),
            ("PUT", f"/2017-10-31/{concurrency}", self.put_concurrency),
            ("GET", f"/2019-09-30/{concurrency}", self.get_concurrency),
            ("DELETE", f"/2017-10-31/{concurrency}", self.delete_concurrency),
            ("GET", r"/2016-08-19/account-settings/?", self.account_settings),
            ("PUT", rf"{invoke_config}/?", self.put_event_invoke_config),
            ("POST", rf"{invoke_config}/?", self.update_event_invoke_config),
            ("GET", rf"{invoke_config}/?", self.get_event_invoke_config),
            ("DELETE", rf"{invoke_config}/?", self.delete_event_invoke_config),
            ("GET", rf"{invoke_config}/list/?", self.list_event_invoke_configs),
        ):
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        try:
            response = await self._respond(request)
        except REFUSALS as exc:
            response = error_response(to_api_error(exc), request_id)
        except ClientDisconnect:
            response = Response(status_code=400)
        except Exception:
            log.exception("internal error handling Lambda request %s", request_id)
            failure = LambdaError(
                "ServiceException",
                f"The request processing has failed because of an internal error "
                f"(request id {request_id})",
                status=500,
            )
            response = error_response(failure, request_id)
        response.headers.setdefault("x-amzn-RequestId", request_id)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        body = await _read_body(request)
        download = codeurl.PATH_RE.match(request.url.path)
        if download is not None and request.method in ("GET", "HEAD"):
            return self._code_package(request, download)  # the URL's signature authorises it
        await self._authenticate(request, body)
        path = request.url.path
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            allowed = True
            if method == request.method:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                return await handler(Call(request, body, params))
        if allowed:
            raise LambdaError(
                "MethodNotAllowedException",
                f"{request.method} is not allowed on {path}",
                status=405,
            )
        operation = operation_at(request.method, path, request.query_params.keys())
        if operation is not None:
            raise LambdaError(
                "UnknownOperationException",
                f"Lambda's {operation} operation is not supported by montemap (docs/lambda.md "
                "lists the operations served)",
                status=404,
            )
        raise LambdaError(
            "UnknownOperationException",
            f"No Lambda operation at {request.method} {path}",
            status=404,
        )

    async def _authenticate(self, request: Request, body: bytes) -> None:
        auth = self.authenticator
        if auth is None:
            return
        if isinstance(auth, SigV4Authenticator):  # one verifier, scoped to this service
            auth = auth.for_service("lambda")
        await auth(request, body)

    def _code_package(self, request: Request, match: re.Match[str]) -> Response:
        """The zip a GetFunction ``Code.Location`` URL names."""
        name, version = unquote(match.group("fn")), unquote(match.group("version"))
        query = request.query_params
        self.service.code_urls.check(
            name, version, query.get(codeurl.EXPIRES), query.get(codeurl.SIGNATURE)
        )
        path = self.service.code_package(name, version)
        return FileResponse(path, media_type="application/zip", filename=f"{name}.zip")

    # ------------------------------------------------------------------ operations

    async def create_function(self, call: Call) -> Response:
        may_start_processes(call.request.scope)  # the code becomes processes on the host
        return _json(await self.service.create_function(call.json()), 201)

    async def list_functions(self, call: Call) -> Response:
        result = self.service.list_functions(
            all_versions=call.query("FunctionVersion") == "ALL",
            marker=call.query("Marker") or "",
            max_items=call.max_items(),
        )
        return _json(result)

    async def get_function(self, call: Call) -> Response:
        return _json(self.service.get_function(call.params["fn"], call.query("Qualifier")))

    async def delete_function(self, call: Call) -> Response:
        await self.service.delete_function(call.params["fn"], call.query("Qualifier"))
        return Response(status_code=204)

    async def get_configuration(self, call: Call) -> Response:
        config = self.service.get_configuration(call.params["fn"], call.query("Qualifier"))
        return _json(config)

    async def update_configuration(self, call: Call) -> Response:
        # Handler, Runtime and Environment (PYTHONPATH, NODE_OPTIONS, LD_PRELOAD...) decide
        # what the function's process runs: as process-starting as new code.
        may_start_processes(call.request.scope)
        return _json(await self.service.update_configuration(call.params["fn"], call.json()))

    async def update_code(self, call: Call) -> Response:
        may_start_processes(call.request.scope)
        return _json(await self.service.update_code(call.params["fn"], call.json()))

    async def publish_version(self, call: Call) -> Response:
        return _json(await self.service.publish_version(call.params["fn"], call.json()), 201)

    async def list_versions(self, call: Call) -> Response:
        result = self.service.list_versions(
            call.params["fn"], marker=call.query("Marker") or "", max_items=call.max_items()
        )
        return _json(result)

    async def create_alias(self, call: Call) -> Response:
        return _json(self.service.create_alias(call.params["fn"], call.json()), 201)

    async def list_aliases(self, call: Call) -> Response:
        result = self.service.list_aliases(
            call.params["fn"],
            call.query("FunctionVersion"),
            marker=call.query("Marker") or "",
            max_items=call.max_items(),
        )
        return _json(result)

    async def get_alias(self, call: Call) -> Response:
        return _json(self.service.get_alias(call.params["fn"], call.params["alias"]))

    async def update_alias(self, call: Call) -> Response:
        fn, alias = call.params["fn"], call.params["alias"]
        return _json(self.service.update_alias(fn, alias, call.json()))

    async def delete_alias(self, call: Call) -> Response:
        self.service.delete_alias(call.params["fn"], call.params["alias"])
        return Response(status_code=204)

    async def add_permission(self, call: Call) -> Response:
        policies = self.service.policies
        return _json(policies.add(call.params["fn"], call.query("Qualifier"), call.json()), 201)

    async def get_policy(self, call: Call) -> Response:
        return _json(self.service.policies.get(call.params["fn"], call.query("Qualifier")))

    async def remove_permission(self, call: Call) -> Response:
        fn, sid = call.params["fn"], call.params["sid"]
        self.service.policies.remove(fn, call.query("Qualifier"), sid)
        return Response(status_code=204)

    async def list_tags(self, call: Call) -> Response:
        return _json(self.service.settings.list_tags(call.params["arn"]))

    async def tag_resource(self, call: Call) -> Response:
        self.service.settings.tag(call.params["arn"], call.json().get("Tags"))
        return Response(status_code=204)

    async def untag_resource(self, call: Call) -> Response:
        keys = call.request.query_params.getlist("tagKeys")
        self.service.settings.untag(call.params["arn"], keys)
        return Response(status_code=204)

    async def put_concurrency(self, call: Call) -> Response:
        answer = self.service.settings.put_concurrency(call.params["fn"], call.json())
        self.service.queue.wake(parse_function_name(call.params["fn"]).name)
        return _json(answer)

    async def get_concurrency(self, call: Call) -> Response:
        return _json(self.service.settings.get_concurrency(call.params["fn"]))

    async def delete_concurrency(self, call: Call) -> Response:
        self.service.settings.delete_concurrency(call.params["fn"])
        self.service.queue.wake(parse_function_name(call.params["fn"]).name)
        return Response(status_code=204)

    async def account_settings(self, call: Call) -> Response:
        return _json(self.service.settings.account_settings())

    async def put_event_invoke_config(self, call: Call) -> Response:
        configs = self.service.event_configs
        return _json(configs.put(call.params["fn"], call.query("Qualifier"), call.json()))

    async def update_event_invoke_config(self, call: Call) -> Response:
        configs = self.service.event_configs
        return _json(configs.update(call.params["fn"], call.query("Qualifier"), call.json()))

    async def get_event_invoke_config(self, call: Call) -> Response:
        return _json(self.service.event_configs.get(call.params["fn"], call.query("Qualifier")))

    async def delete_event_invoke_config(self, call: Call) -> Response:
        self.service.event_configs.delete(call.params["fn"], call.query("Qualifier"))
        return Response(status_code=204)

    async def list_event_invoke_configs(self, call: Call) -> Response:
        configs = self.service.event_configs
        marker, items = call.query("Marker") or "", call.query("MaxItems")
        return _json(configs.list(call.params["fn"], marker, items))

    async def invoke(self, call: Call) -> Response:
        ref = parse_function_name(call.params["fn"], call.query("Qualifier"))
        kind = call.request.headers.get("x-amz-invocation-type", "RequestResponse")
        event = _event_text(call.body, kind)
        if kind == "DryRun":
            self.service.resolve(ref)
            return Response(status_code=204)
        if kind == "Event":  # queued: its request id is the one the function sees
            self.service.resolve(ref)
            queued = self.service.queue.put(ref, event)
            return Response(status_code=202, headers={"x-amzn-RequestId": queued.request_id})
        if kind != "RequestResponse":
            raise invalid(
                f"Unsupported InvocationType '{kind}': use RequestResponse, Event or DryRun"
            )
        context = _client_context(call.request.headers.get("x-amz-client-context"))
        outcome, version = await self.service.invoke(
            ref, event, client_context=context, nested=_from_a_function(call.request)
        )
        headers = {"X-Amz-Executed-Version": version}
        if outcome.function_error:
            headers["X-Amz-Function-Error"] = outcome.function_error
        if call.request.headers.get("x-amz-log-type") == "Tail":
            headers["X-Amz-Log-Result"] = outcome.log_tail
        return Response(outcome.body, 200, headers=headers, media_type="application/json")

    async def invoke_streaming(self, call: Call) -> Response:
        """InvokeWithResponseStream: the function's bytes as an event stream (sent once the
        function has ended: the stream is buffered here, its events are Lambda's)."""
        ref = parse_function_name(call.params["fn"], call.query("Qualifier"))
        kind = call.request.headers.get("x-amz-invocation-type", "RequestResponse")
        event = _event_text(call.body, "RequestResponse")
        if kind == "DryRun":
            self.service.resolve(ref)
            return Response(status_code=204)
        if kind != "RequestResponse":
            raise invalid(f"Unsupported InvocationType '{kind}': use RequestResponse or DryRun")
        context = _client_context(call.request.headers.get("x-amz-client-context"))
        outcome, version = await self.service.invoke(
            ref, event, client_context=context, nested=_from_a_function(call.request)
        )
        tail = outcome.log_tail if call.request.headers.get("x-amz-log-type") == "Tail" else None
        headers = {"X-Amz-Executed-Version": version, "Content-Type": outcome.content_type}
        return Response(eventstream.answer(outcome, tail), 200, headers=headers)


def _from_a_function(request: Request) -> bool:
    """Whether a synchronous Invoke comes from a running function: the AWS SDKs name the
    ``AWS_EXECUTION_ENV`` a function gets (``AWS_Lambda_<runtime>``) in their User-Agent."""
    agents = (request.headers.get(h, "") for h in ("user-agent", "x-amz-user-agent"))
    return any(_FUNCTION_AGENT in agent for agent in agents)


def _event_text(body: bytes, kind: str) -> str:
    """The invocation payload as JSON text (``{}`` when empty), checked (Lambda's messages)."""
    if kind == "Event" and len(body) > MAX_EVENT_PAYLOAD:
        raise too_large(
            f"{len(body)} byte payload is too large for the Event invocation type "
            f"(limit {MAX_EVENT_PAYLOAD} bytes)"
        )
    if len(body) > MAX_SYNC_PAYLOAD:
        raise too_large(
            f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
        )
    if not body.strip():
        return "{}"
    try:
        text = body.decode("utf-8")
        json.loads(text)
    except ValueError as exc:
        raise bad_content(f"Could not parse request body into json: {exc}")
    return text


def _client_context(header: str | None) -> str:
    """Invoke's ``ClientContext`` (base64 of a JSON object, at most 3,583 bytes) as JSON text."""
    if not header:
        return ""
    if len(header) > MAX_CLIENT_CONTEXT:
        raise invalid(
            f"Client context must be at most {MAX_CLIENT_CONTEXT} bytes of base64-encoded JSON"
        )
    try:
        value = json.loads(base64.b64decode(header, validate=True))
    except (ValueError, binascii.Error):
        value = None
    if not isinstance(value, dict):
        raise bad_content("Client context must be a valid Base64-encoded JSON object.")
    return json.dumps(value)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large(f"Request must be smaller than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
