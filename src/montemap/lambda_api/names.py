"""Function names, qualifiers and ARNs as Lambda accepts them.

A ``FunctionName`` is a name (``my-function``), a name with a qualifier
(``my-function:v1``), a partial ARN (``123456789012:function:my-function``)
or a full ARN, each optionally qualified; the qualifier is ``$LATEST``, a
version number or an alias name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from montemap.lambda_api.errors import invalid

LATEST = "$LATEST"
_NAME = r"[A-Za-z0-9_-]{1,64}"
_QUALIFIER = r"\$LATEST|[A-Za-z0-9_-]{1,128}"
_NAME_RE = re.compile(rf"^({_NAME})$")
_FULL_RE = re.compile(
    rf"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(\d{{12}}):function:({_NAME})(?::({_QUALIFIER}))?$"
)
_SHORT_RE = re.compile(rf"^({_NAME})(?::({_QUALIFIER}))?$")
_ALIAS_RE = re.compile(r"^(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}$")
_VERSION_RE = re.compile(r"^[0-9]{1,20}$")


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
            raise invalid(
                f"1 validation error detected: Value '{value}' at 'functionName' failed to "
                "satisfy constraint: Member must be a function name, a name with a version "
                "or alias, or a function ARN"
            )
        account, (name, inline) = None, short.groups()
    if qualifier is not None and not re.fullmatch(_QUALIFIER, qualifier):
        raise invalid(f"Invalid qualifier '{qualifier}': use $LATEST, a version or an alias")
    if inline is not None and qualifier is not None and inline != qualifier:
        raise invalid(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return FunctionRef(name=name, qualifier=inline or qualifier, account=account)


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


def is_version(qualifier: str) -> bool:
    return qualifier == LATEST or bool(_VERSION_RE.match(qualifier))


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn
