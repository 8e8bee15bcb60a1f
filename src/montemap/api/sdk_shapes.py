"""Values as AWS SDK integrations (``arn:aws:states:::aws-sdk:<service>:<action>``) take
and return them.

A state machine names a service's request members in PascalCase, even where the
service's own API is camelCase (``StateMachineArn`` for Step Functions'
``stateMachineArn``); the response comes back in PascalCase too, with timestamps as
ISO-8601 strings and binary members as text; a service's refusal becomes the ASL error
``<Service>.<Code>``, always with the ``Exception`` suffix (``Sfn.ExecutionDoesNotExist
Exception``, ``S3.NoSuchBucketException``). botocore's service models say which
member is which.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from montemap.errors import RUNTIME, StatesError

__all__ = ["error_name", "iso_timestamp", "pascal", "to_request", "to_result"]


def iso_timestamp(value: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``, as AWS SDK integrations render timestamps."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def pascal(name: str) -> str:
    """``stateMachineArn`` -> ``StateMachineArn``."""
    return name[:1].upper() + name[1:]


def error_name(service: str, code: str) -> str:
    """``<service>.<Code>``, with the ``Exception`` suffix Step Functions always uses."""
    return f"{service}.{code if code.endswith('Exception') else code + 'Exception'}"


def to_request(shape: Shape, value: Any, path: str) -> Any:
    """An SDK-style (PascalCase) request value in the model's member names, per ``shape``
    (a blob given as a JSON value is sent as its JSON text). A member the shape does not
    have is refused with ``States.Runtime`` naming where it is and what is."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_pascal = {pascal(name): name for name in shape.members}
        out = {}
        for key, item in value.items():
            name = by_pascal.get(key) or (key if key in shape.members else None)
            if name is None:
                raise StatesError(
                    RUNTIME,
                    f"The field '{key}' at '{path or '$'}' is not supported by Step Functions"
                    f" (expected one of: {', '.join(sorted(by_pascal))})",
                )
            out[name] = to_request(shape.members[name], item, f"{path}.{key}" if path else key)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_request(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: to_request(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if shape.type_name == "blob" and not isinstance(value, str | bytes):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def to_result(shape: Shape | None, value: Any) -> Any:
    """A response value with structure members in PascalCase, ISO timestamps, and binary
    values (or streams) as their UTF-8 text (base64 where they are not text)."""
    if isinstance(value, datetime):
        return iso_timestamp(value)
    if hasattr(value, "read") and callable(value.read):  # a streaming blob
        value = value.read()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {pascal(key): to_result(shape.members.get(key), item) for key, item in value.items()}
    if isinstance(value, list):
        member = shape.member if isinstance(shape, ListShape) else None
        return [to_result(member, item) for item in value]
    if isinstance(value, dict):
        inner = shape.value if isinstance(shape, MapShape) else None
        return {key: to_result(inner, item) for key, item in value.items()}
    return value
