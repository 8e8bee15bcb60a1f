"""JSON type names, as AWS's messages use them."""

from __future__ import annotations


def json_type_name(value: object) -> str:
    """``null``, ``boolean``, ``number``, ``string``, ``array`` or ``object`` (else the
    Python type's name) for a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
