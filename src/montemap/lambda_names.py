"""Function names, qualifiers and ARNs as Lambda accepts them (pure parsing).

A ``FunctionName`` is a name (``my-function``), a name with a qualifier
(``my-function:v1``), a partial ARN (``123456789012:function:my-function``)
or a full ARN, each optionally qualified; the qualifier is ``$LATEST``, a
version number or an alias name.

Shared by the engine (a Task's ``FunctionName``) and the Lambda API
(:mod:`montemap.lambda_api.names` turns :class:`FunctionNameError` into AWS's
``InvalidParameterValueException``); it imports nothing but the error tree, so
the engine loads no HTTP layer through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from montemap.errors import MontemapError

LATEST = "$LATEST"
_NAME = r"[A-Za-z0-9_-]{1,64}"
_QUALIFIER = r"\$LATEST|[A-Za-z0-9_-]{1,128}"
_FULL_RE = re.compile(
    rf"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(\d{{12}}):function:({_NAME})(?::({_QUALIFIER}))?$"
)
_SHORT_RE = re.compile(rf"^({_NAME})(?::({_QUALIFIER}))?$")
_QUALIFIER_RE = re.compile(_QUALIFIER)
_VERSION_RE = re.compile(r"^[0-9]{1,20}$")


#: The pattern Lambda's API model gives ``FunctionName`` (quoted in its refusal).
PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
    r"([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)


class FunctionNameError(MontemapError):
    """A ``FunctionName`` (or ``Qualifier``) Lambda would refuse; the message says why."""


@dataclass(frozen=True)
class FunctionRef:
    """A parsed ``FunctionName``: the name and the qualifier it carried (if any)."""

    name: str
    qualifier: str | None = None
    account: str | None = None


def parse_function_name(value: str, qualifier: str | None = None) -> FunctionRef:
    """Parse a ``FunctionName`` (and an optional ``Qualifier`` parameter)."""
    match = _FULL_RE.match(value)
    if match:
        account, name, inline = match.groups()
    else:
        short = _SHORT_RE.match(value)
        if not short:
            raise FunctionNameError(
                f"1 validation error detected: Value '{value}' at 'functionName' failed to "
                f"satisfy constraint: Member must satisfy regular expression pattern: {PATTERN}"
            )
        account, (name, inline) = None, short.groups()
    if qualifier is not None and not _QUALIFIER_RE.fullmatch(qualifier):
        raise FunctionNameError(
            f"Invalid qualifier '{qualifier}': use $LATEST, a version or an alias"
        )
    if inline is not None and qualifier is not None and inline != qualifier:
        raise FunctionNameError(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return FunctionRef(name=name, qualifier=inline or qualifier, account=account)


def is_version(qualifier: str) -> bool:
    """``$LATEST`` or a version number (not an alias)."""
    return qualifier == LATEST or bool(_VERSION_RE.match(qualifier))


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn
