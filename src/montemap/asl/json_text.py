"""Compact JSON text exactly as AWS renders it (Jackson over Java values).

Error messages and ``States.JsonToString`` print JSON the way the AWS service
does: no spaces, doubles as Java's ``Double.toString`` prints them (``1.0E7``,
``-0.0``), non-ASCII text kept, control characters as upper-case ``\\u001F``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["to_json_text"]


def _java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` (and so Jackson) prints it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    digits, exponent = _shortest_digits(magnitude)
    rest = digits[1:] or "0"
    return f"{'-' if value < 0 else ''}{digits[0]}.{rest}E{exponent + len(digits) - 1}"


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of a positive float, and the exponent of the last."""
    mantissa, _, exp_text = repr(magnitude).partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent -= len(fraction)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped or "0", exponent


_STRING_ESCAPES = {i: f"\\u{i:04X}" for i in range(0x20)} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
}


def _json_string(text: str) -> str:
    """A JSON string literal as Jackson writes it (UTF-8 kept, ``\\u001F`` upper-case)."""
    return '"' + text.translate(_STRING_ESCAPES) + '"'


def to_json_text(value: Any) -> str:
    """Compact JSON text as AWS renders it (Jackson): no spaces, Java doubles, UTF-8."""
    parts: list[str] = []
    _write_json(value, parts)
    return "".join(parts)


def _write_json(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_java_double(value))
    elif isinstance(value, str):
        out.append(_json_string(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_json_string(str(key)))
            out.append(":")
            _write_json(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write_json(item, out)
        out.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


# --------------------------------------------------------------------------- syntax tree
