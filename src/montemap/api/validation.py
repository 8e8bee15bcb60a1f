"""Request validation driven by botocore's service model for Step Functions.

One generic walk over an operation's input shape checks what AWS's service
framework checks before an action runs:

* JSON types (a string where a string is modelled, ...): a mismatch is a
  ``SerializationException``, as AWS answers a body it cannot deserialize;
* required members, string and list lengths, numeric ranges, enums,
  regular-expression patterns and strings that are not valid Unicode: each violation is collected and reported in
  one ``ValidationException`` worded as AWS words it ("1 validation error
  detected: Value 'x' at 'name' failed to satisfy constraint: ...").

Members the model does not know are ignored (AWS ignores them too), and a
JSON ``null`` counts as absent.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.loaders
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from montemap.api.protocol import JsonRefused, serialization_error, strict_loads, validation_error
from montemap.errors import ApiError
from montemap.jsontypes import json_type_name

SERVICE_NAME = "stepfunctions"

#: A lone surrogate: a string holding one cannot be stored or sent as UTF-8.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

#: Java regex constructs the model uses that Python's ``re`` spells differently.
_JAVA_REGEX = {r"\p{ASCII}": r"\x00-\x7F"}


@functools.cache
def service_model() -> ServiceModel:
    """botocore's model of the Step Functions API (loaded once)."""
    # the loader alone: a session would read the user's AWS_PROFILE (and fail on a bad one)
    loader = botocore.loaders.create_loader()
    return ServiceModel(loader.load_service_model(SERVICE_NAME, "service-2"), SERVICE_NAME)


def operation_model(action: str) -> OperationModel | None:
    """The operation called ``action``, or None when the service has no such operation."""
    model = service_model()
    if action not in model.operation_names:
        return None
    return model.operation_model(action)


@functools.cache
def _pattern(java: str) -> re.Pattern[str] | None:
    text = java
    for construct, python in _JAVA_REGEX.items():
        text = text.replace(construct, f"[{python}]")
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        return None  # a construct we cannot translate: not checked


def _show(value: Any, shape: Shape) -> str:
    """How AWS quotes a value in a constraint message ('Value ... at')."""
    if shape.metadata.get("sensitive"):
        return ""
    if value is None:
        return " null"
    if isinstance(value, bool):
        return f" '{str(value).lower()}'"
    if isinstance(value, list | dict):
        return ""
    return f" '{value}'"


class _Walker:
    def __init__(self) -> None:
        self.violations: list[str] = []

    def violation(self, value: Any, shape: Shape, path: str, constraint: str) -> None:
        self.violations.append(
            f"Value{_show(value, shape)} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def check(self, shape: Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self.structure(shape, value, path)
        if kind == "list":
            assert isinstance(shape, ListShape)
            return self.list(shape, value, path)
        if kind == "map":
            assert isinstance(shape, MapShape)
            return self.map(shape, value, path)
        if kind == "string":
            return self.string(shape, value, path)
        if kind in ("integer", "long"):
            return self.integer(shape, value, path)
        if kind in ("float", "double"):
            return self.number(shape, value, path)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _type_error(path, "a boolean", value)
            return value
        if kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise _type_error(path, "a timestamp (epoch seconds)", value)
            return value
        if kind == "blob":
            if not isinstance(value, str):
                raise _type_error(path, "a base64-encoded string", value)
            return value
        return value

    def structure(self, shape: StructureShape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _type_error(path or "the request body", "an object", value)
        out: dict[str, Any] = {}
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                self.violation(None, members[name], _join(path, name), "Member must not be null")
        for name, member in members.items():
            item = value.get(name)
            if item is not None:
                out[name] = self.check(member, item, _join(path, name))
        return out

    def list(self, shape: ListShape, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise _type_error(path, "an array", value)
        self.length(shape, value, path, len(value))
        out = []
        for index, item in enumerate(value, start=1):
            item_path = f"{path}.{index}.member"
            if item is None:
                self.violation(None, shape.member, item_path, "Member must not be null")
                continue
            out.append(self.check(shape.member, item, item_path))
        return out

    def map(self, shape: MapShape, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _type_error(path, "an object", value)
        self.length(shape, value, path, len(value))
        out = {}
        for key, item in value.items():
            self.string(shape.key, key, f"{path}.key")
            if item is not None:
                shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
                out[key] = self.check(shape.value, item, f"{path}.{shown}.value")
        return out

    def string(self, shape: Shape, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _type_error(path, "a string", value)
        meta = shape.metadata
        if not value.isascii() and _SURROGATE_RE.search(value) is not None:
            # Not echoed: the value cannot be encoded in a (UTF-8) response.
            self.violations.append(
                f"Value at '{path}' failed to satisfy constraint: "
                "Member must contain only valid Unicode scalar values"
            )
            return value
        self.length(shape, value, path, len(value))
        enum = meta.get("enum")
        if enum and value not in enum:
            self.violation(
                value, shape, path, f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        java = meta.get("pattern")
        if java:
            pattern = _pattern(java)
            if pattern is not None and not pattern.fullmatch(value):
                self.violation(
                    value, shape, path, f"Member must satisfy regular expression pattern: {java}"
                )
        return value

    def integer(self, shape: Shape, value: Any, path: str) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, "an integer", value)
        self.range(shape, value, path)
        return value

    def number(self, shape: Shape, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(path, "a number", value)
        self.range(shape, value, path)
        return float(value)

    def length(self, shape: Shape, value: Any, path: str, size: int) -> None:
        meta = shape.metadata
        if "min" in meta and size < meta["min"]:
            self.violation(
                value,
                shape,
                path,
                f"Member must have length greater than or equal to {meta['min']}",
            )
        if "max" in meta and size > meta["max"]:
            self.violation(
                value, shape, path, f"Member must have length less than or equal to {meta['max']}"
            )

    def range(self, shape: Shape, value: float, path: str) -> None:
        meta = shape.metadata
        if "min" in meta and value < meta["min"]:
            self.violation(
                value, shape, path, f"Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            self.violation(
                value, shape, path, f"Member must have value less than or equal to {meta['max']}"
            )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_error(path: str, expected: str, value: Any) -> ApiError:
    return serialization_error(
        f"Invalid type for '{path}': expected {expected}, got {json_type_name(value)}"
    )


def validate_input(operation: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` against the operation's input shape; return the known members.

    Raises ``SerializationException`` for a wrong JSON type and
    ``ValidationException`` listing every constraint violation.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    walker = _Walker()
    clean = walker.structure(shape, params, "")
    found = walker.violations
    if found:
        count = len(found)
        noun = "validation error" if count == 1 else "validation errors"
        raise validation_error(f"{count} {noun} detected: {'; '.join(found)}")
    return clean


#: AWS's quota on execution input, task output and other JSON payloads: 256 KiB of UTF-8.
MAX_PAYLOAD_BYTES = 256 * 1024


def check_json_payload(
    text: str, code: str, what: str, *, max_bytes: int = MAX_PAYLOAD_BYTES
) -> None:
    """Refuse, as ``code``, a JSON document carried in a string member.

    ``what`` names it in AWS's words ("State Machine Execution Input",
    "Output"). The document must fit ``max_bytes`` of UTF-8 and pass
    :func:`montemap.api.protocol.strict_loads`: valid JSON, no NaN, numbers a
    double holds, nesting within ``MAX_JSON_DEPTH``, no lone surrogates.
    """
    if len(text) > max_bytes // 4 and len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ApiError(code, f"{what} exceeds the maximum size of {max_bytes} bytes")
    try:
        strict_loads(text)
    except JsonRefused as exc:
        raise ApiError(code, f"Invalid {what}: '{exc}'")


def check_execution_input(text: str) -> None:
    """``InvalidExecutionInput`` for an execution input montemap cannot run with."""
    check_json_payload(text, "InvalidExecutionInput", "State Machine Execution Input")
