"""The wording of JSONata errors, as AWS Step Functions reports them.

AWS runs jsonata-js: its messages name the function (``function "sum"``) and
JSON-quote the tokens they cite (``Expected "]", got ","``). ``jsonata-python``
keeps the same message catalogue but says ``Object`` where jsonata-js says
``function`` and inserts tokens unquoted, so messages are rebuilt here from
the catalogue and the exception's fields.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from jsonata.jexception import JException

from montemap.errors import MontemapError

_PLACEHOLDER: Final = re.compile(r"\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}")

#: How jsonata-js names the element type of an array signature (T0412).
_ARRAY_TYPES: Final[dict[str, str]] = {
    "a": "arrays",
    "b": "booleans",
    "f": "functions",
    "n": "numbers",
    "o": "objects",
    "s": "strings",
}


class BoundExceeded(MontemapError):
    """An evaluation stopped by a resource bound (time, depth, size); no JSONata code."""


def jsonata_message(error: JException) -> str:
    """The jsonata-js text of ``error``, without its code."""
    template = JException.error_codes.get(error.error)
    if template is None:
        return str(error)
    template = template.replace("Object", "function")
    args = [error.current, error.expected, error.extra]
    position = 0

    def substitute(match: re.Match[str]) -> str:
        nonlocal position
        value = args[position] if position < len(args) else None
        position += 1
        if match.group(1) is not None:
            return "" if value is None else str(value)
        name = match.group(2)
        if error.error == "T0412" and name == "type" and isinstance(value, str):
            value = _ARRAY_TYPES.get(value, value)
        return _quoted(value)

    return _PLACEHOLDER.sub(substitute, template)


def evaluation_detail(error: BaseException) -> str:
    """What follows "threw an error during evaluation" in an AWS cause.

    A coded JSONata error reads ``". T0412: <message>"``; anything else
    (a bound, a failure inside a function) reads ``": <message>"``.
    """
    if isinstance(error, JException):
        return f". {error.error}: {jsonata_message(error)}"
    if isinstance(error, RecursionError):
        return ": Stack overflow. Check for non-terminating recursive function."
    text = str(error) or type(error).__name__
    return f": {text}"


def _quoted(value: Any) -> str:
    if value is None:
        return "undefined"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)
