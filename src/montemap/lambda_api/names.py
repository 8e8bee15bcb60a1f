"""Function names as the Lambda API checks them: :mod:`montemap.lambda_names`'
parsing, refused as AWS does (``ValidationException`` for a name outside the API
model's pattern, ``InvalidParameterValueException`` otherwise)."""

from __future__ import annotations

import re

from montemap.lambda_api.errors import LambdaError, invalid
from montemap.lambda_names import (
    LATEST,
    FunctionNameError,
    FunctionRef,
    function_arn,
    is_version,
)
from montemap.lambda_names import parse_function_name as _parse

__all__ = [
    "LATEST",
    "FunctionRef",
    "check_alias_name",
    "check_name",
    "function_arn",
    "is_version",
    "parse_function_name",
]

_ALIAS_RE = re.compile(r"^(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}$")


def parse_function_name(value: str, qualifier: str | None = None) -> FunctionRef:
    """Parse a ``FunctionName`` (and an optional ``Qualifier`` parameter)."""
    try:
        return _parse(value, qualifier)
    except FunctionNameError as exc:
        message = str(exc)
        if message.startswith("1 validation error detected"):  # the API model's constraint
            raise LambdaError("ValidationException", message, status=400) from None
        raise invalid(message) from None


def check_name(name: str) -> str:
    """A plain function name (as CreateFunction needs), or InvalidParameterValue."""
    ref = parse_function_name(name)
    if ref.qualifier is not None:
        raise invalid(f"Function name '{name}' must not carry a qualifier here")
    return ref.name


def check_alias_name(name: str) -> str:
    if not _ALIAS_RE.match(name) or name == LATEST:
        raise invalid(
            f"Alias name '{name}' must be 1-128 letters, digits, '-' or '_', not only digits"
        )
    return name
