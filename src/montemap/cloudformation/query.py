"""The AWS query protocol (CloudFormation, IAM): form-encoded requests, XML responses.

Requests are read into the nested parameters botocore's input shapes
describe (``Parameters.member.1.ParameterKey`` -> ``{"Parameters": [{...}]}``);
results are written as XML following the output shapes, so the AWS CLI and
boto3 parse them as they parse AWS's.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from montemap.errors import ApiError

NAMESPACES = {
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


@functools.lru_cache(maxsize=4)
def service_model(service: str) -> ServiceModel:
    model: ServiceModel = botocore.session.get_session().get_service_model(service)
    return model


def operation(service: str, name: str) -> OperationModel | None:
    model = service_model(service)
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def form(body: bytes) -> dict[str, str]:
    fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


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
            f"<entry><key>{escape(str(k))}</key><value>{_write(shape.value, v)}</value></entry>"
            for k, v in value.items()
        )
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        moment = (
            datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float) else value
        )
        return escape(moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    return escape(str(value))


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
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return body, request_id
