"""The AWS query protocol (CloudFormation, IAM, STS): form-encoded requests, XML responses.

Requests are read into the nested parameters botocore's input shapes
describe (``Parameters.member.1.ParameterKey`` -> ``{"Parameters": [{...}]}``);
results are written as XML following the output shapes, so the AWS CLI and
boto3 parse them as they parse AWS's.

:class:`QueryApp` is the one ASGI application of the three services: it reads
the body, authenticates (SigV4 scoped to its service when the server has keys;
a refusal carries the code the query protocol's Common Errors give it, e.g.
``InvalidClientTokenId``, HTTP 403), finds the operation, runs it and answers
XML; each action is given the request's :class:`Signer` (who signed it).
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.loaders
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from montemap.api import protocol, sigv4
from montemap.api.app import Authenticator
from montemap.api.credentials import SigV4Authenticator
from montemap.api.errors import REFUSALS, to_api_error
from montemap.api.hosts import may_start_processes
from montemap.errors import ApiError

NAMESPACES = {
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


@functools.lru_cache(maxsize=4)
def service_model(service: str) -> ServiceModel:
    # the loader alone: a session would read the user's AWS_PROFILE (and fail on a bad one)
    return ServiceModel(
        botocore.loaders.create_loader().load_service_model(service, "service-2"), service
    )


def operation(service: str, name: str) -> OperationModel | None:
    model = service_model(service)
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            "InvalidQueryParameter",
            f"The request body is not form-encoded UTF-8 text (byte {exc.start} is not UTF-8)",
            status=400,
        )
    fields = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    for name, value in fields.items():
        if _NOT_XML.search(name) or _NOT_XML.search(value):
            raise ApiError(
                "ValidationError",
                f"The value of {_NOT_XML.sub('?', name)[:100]!r} holds a character XML cannot "
                "carry (NUL or another control character but tab, CR and LF): it could not "
                "be answered in any response.",
                status=400,
            )
    return fields


#: What XML 1.0 cannot carry, even as a character reference: a value holding one would
#: make every response showing it unreadable (a role's description: every ListRoles).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(value: str) -> str:
    """``value`` escaped for XML, what XML cannot carry (stored before it was refused, or
    from a YAML template's ``"\\x01"``) answered as U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value))


#: How many dotted levels of a field name are indexed (the models nest a few deep).
_MAX_LEVELS = 12


def _prefixes(fields: dict[str, str]) -> set[str]:
    """Every ``a``, ``a.b``... that some field name extends with a ``.``: one pass over the
    names, so that a structure's or a list's presence is one lookup, not a scan of every
    field (quadratic: 50,000 list members in a 4 MB body took minutes on the event loop)."""
    found: set[str] = set()
    for name in fields:
        end = name.find(".")
        levels = 0
        while end != -1 and levels < _MAX_LEVELS:
            found.add(name[:end])
            end = name.find(".", end + 1)
            levels += 1
    return found


def read_params(shape: Shape | None, fields: dict[str, str]) -> dict[str, Any]:
    """The request's parameters for an operation whose input is ``shape``."""
    if not isinstance(shape, StructureShape):
        return {}
    value = _read(shape, "", fields, _prefixes(fields))
    return value if isinstance(value, dict) else {}


def _read(shape: Shape, prefix: str, fields: dict[str, str], parents: set[str]) -> Any:
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = f"{prefix}.{name}" if prefix else name
            if key in fields or key in parents:
                out[name] = _read(member, key, fields, parents)
        return out
    if isinstance(shape, ListShape):
        items = []
        index = 1
        while (item := f"{prefix}.member.{index}") in fields or item in parents:
            items.append(_read(shape.member, item, fields, parents))
            index += 1
        return items
    if isinstance(shape, MapShape):
        entries = {}
        index = 1
        while f"{prefix}.entry.{index}.key" in fields:
            entries[fields[f"{prefix}.entry.{index}.key"]] = _read(
                shape.value, f"{prefix}.entry.{index}.value", fields, parents
            )
            index += 1
        return entries
    text = fields.get(prefix, "")
    if shape.type_name == "boolean":
        return text.lower() == "true"
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise ApiError("ValidationError", f"{prefix} must be a number", status=400)
    return text


def _write(shape: Shape, value: Any) -> str:
    if isinstance(shape, StructureShape):
        parts = []
        for name, member in shape.members.items():
            if isinstance(value, dict) and name in value and value[name] is not None:
                tag = member.serialization.get("name", name)
                parts.append(f"<{tag}>{_write(member, value[name])}</{tag}>")
        return "".join(parts)
    if isinstance(shape, ListShape):
        tag = shape.member.serialization.get("name", "member")
        return "".join(f"<{tag}>{_write(shape.member, item)}</{tag}>" for item in value)
    if isinstance(shape, MapShape):
        return "".join(
            f"<entry><key>{_text(str(k))}</key><value>{_write(shape.value, v)}</value></entry>"
            for k, v in value.items()
        )
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        moment = (
            datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float) else value
        )
        return escape(moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    return _text(str(value))


def response_xml(service: str, op: OperationModel, result: dict[str, Any]) -> tuple[str, str]:
    """The XML body of a successful response, and its request id."""
    request_id = str(uuid.uuid4())
    inner = _write(op.output_shape, result) if op.output_shape is not None else ""
    name = op.name
    body = (
        f'<{name}Response xmlns="{NAMESPACES[service]}">'
        + (f"<{name}Result>{inner}</{name}Result>" if op.output_shape is not None else "")
        + f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{name}Response>"
    )
    return body, request_id


def error_xml(service: str, error: ApiError) -> tuple[str, str]:
    request_id = str(uuid.uuid4())
    kind = "Sender" if error.status < 500 else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{NAMESPACES[service]}"><Error><Type>{kind}</Type>'
        f"<Code>{_text(error.code)}</Code><Message>{_text(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return body, request_id


# ------------------------------------------------------------------ the application

#: Largest request body by default (a CloudFormation template body of up to 1 MB, encoded).
MAX_BODY = 4 * 1024 * 1024
#: The SigV4 refusals under the names the query protocol's Common Errors give them
#: (the same for CloudFormation, IAM and STS), with their HTTP statuses.
AUTH_CODES: dict[str, tuple[str, int]] = {
    sigv4.MISSING_TOKEN: ("MissingAuthenticationToken", 403),
    sigv4.INCOMPLETE_SIGNATURE: ("IncompleteSignature", 400),
    sigv4.UNRECOGNIZED_CLIENT: ("InvalidClientTokenId", 403),
    sigv4.INVALID_SIGNATURE: ("SignatureDoesNotMatch", 403),
    "ExpiredToken": ("ExpiredToken", 403),
}


@dataclass(frozen=True)
class Signer:
    """The credentials a request names (checked already when the server has keys)."""

    access_key_id: str | None
    session_token: str | None


def signer(request: Request) -> Signer:
    """Who signed ``request``: its access key id and its session token, when it names them."""
    key_id: str | None = None
    header = request.headers.get("authorization")
    if header:
        try:
            key_id = sigv4.parse_authorization(header).access_key_id
        except ApiError:
            key_id = None  # a server without keys takes any Authorization
    return Signer(key_id, request.headers.get("x-amz-security-token"))


#: An action run on its parameters, knowing who signed the request.
Call = Callable[[str, dict[str, Any], Signer], Awaitable[dict[str, Any]]]


def auth_error(exc: ApiError) -> ApiError:
    """A refused signature as the query protocol answers it."""
    code, status = AUTH_CODES.get(exc.code, (exc.code, exc.status))
    return ApiError(code, exc.message, status=status)


def xml_response(service: str, error: ApiError) -> Response:
    text, request_id = error_xml(service, error)
    return Response(text, error.status, {"x-amzn-RequestId": request_id}, "text/xml")


class QueryApp:
    """One query-protocol service: ``service`` is its SigV4 name and botocore model name.

    ``call`` runs an action on its parameters and the request's :class:`Signer`
    (STS answers with the caller's identity); ``process_starting`` names the
    actions whose input becomes something the host runs (they must pass
    :func:`~montemap.api.hosts.may_start_processes`).
    """

    def __init__(
        self,
        service: str,
        call: Call,
        authenticator: Authenticator | None,
        *,
        max_body: int = MAX_BODY,
        process_starting: frozenset[str] = frozenset(),
    ) -> None:
        self.service = service
        self.call = call
        self.authenticator = authenticator
        self.max_body = max_body
        self.process_starting = process_starting
        self.log = logging.getLogger(f"montemap.{service}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        try:
            body = await protocol.read_body(request, self.max_body)
            try:
                await self._authenticate(request, body)
            except ApiError as exc:
                return xml_response(self.service, auth_error(exc))
            fields = form(body)
            action = fields.get("Action", "")
            if not action:
                raise ApiError("MissingAction", "The request must name an Action", status=400)
            op = operation(self.service, action)
            if op is None:
                raise ApiError("InvalidAction", f"Could not find operation {action}", status=400)
            if action in self.process_starting:
                may_start_processes(request.scope)
            params = read_params(op.input_shape, fields)
            result = await self.call(action, params, signer(request))
            text, request_id = response_xml(self.service, op, result)
            return Response(text, 200, {"x-amzn-RequestId": request_id}, "text/xml")
        except REFUSALS as exc:
            return xml_response(self.service, to_api_error(exc))
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:
            self.log.exception("internal error in %s request", self.service)
            error = ApiError(
                "InternalFailure",
                "The request processing has failed because of an internal error",
                status=500,
            )
            return xml_response(self.service, error)

    async def _authenticate(self, request: Request, body: bytes) -> None:
        auth = self.authenticator
        if auth is None:
            return
        if isinstance(auth, SigV4Authenticator):  # one verifier, scoped to this service
            auth = auth.for_service(self.service)
        await auth(request, body)
