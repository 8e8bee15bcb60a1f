"""Every string of a request's JSON body checked at the door: no lone surrogate.

JSON's ``\\ud800`` escape decodes to a lone surrogate, which no UTF-8 text can
carry: kept in a function's configuration, it failed later, when a handler, an
environment variable or a tag had to become bytes (an Invoke's process, a
GetFunction's answer: a 500). Such a body is refused when it comes
(``ValidationException``, naming the field), as Lambda refuses a value outside
its model.
"""

from __future__ import annotations

import json
from typing import Any

from montemap.lambda_api.errors import LambdaError, constraint
from montemap.lambda_api.runtime import Outcome


def refuse_lone_surrogates(value: Any, path: str = "") -> None:
    """Raise ``ValidationException`` naming the first string of ``value`` (keys included)
    that UTF-8 cannot encode."""
    if isinstance(value, str):
        _check(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = _field(path, str(key))
            _check(str(key), name)
            refuse_lone_surrogates(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_lone_surrogates(item, f"{path}[{index}]")


#: Fields whose keys are the user's (variable names, tag keys): named by the map's path.
_MAPS = ("variables", "tags")


def _field(path: str, key: str) -> str:
    """``Environment`` -> ``environment``, as Lambda names a field in its messages; an
    entry of a map of the user's is named by the map (``environment.variables``)."""
    if path.endswith(_MAPS):
        return path
    name = key[:1].lower() + key[1:]
    return f"{path}.{name}" if path else name


def _check(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise constraint(
            f"Value at '{path.encode('utf-8', 'backslashreplace').decode()}' failed to "
            f"satisfy constraint: Member must be valid Unicode text (it holds the lone "
            f"surrogate \\u{ord(bad):04x}, which UTF-8 cannot encode)"
        ) from None


#: What an invocation hands the function's process of its stored configuration.
_RUN_FIELDS = ("Handler", "Runtime", "Role", "Environment", "LoggingConfig", "Layers")
#: The ``errorType`` of an invocation whose stored configuration cannot be run.
INVALID_CONFIGURATION = "Runtime.InvalidConfiguration"


def stored_fault(config: dict[str, Any]) -> Outcome | None:
    """The function error an invocation ends in when a field of ``config`` that its
    process needs holds a lone surrogate (a configuration stored before such values were
    refused: no process can be given it); None when the configuration can be run."""
    for key in _RUN_FIELDS:
        try:
            refuse_lone_surrogates(config.get(key), _field("", key))
        except LambdaError as exc:
            reason = exc.message.removeprefix("1 validation error detected: ")
            message = (
                f"The function's stored configuration cannot be run: {reason}. It was "
                "stored before such values were refused: update the function's "
                "configuration (UpdateFunctionConfiguration) to run it."
            )
            document = {"errorType": INVALID_CONFIGURATION, "errorMessage": message}
            return Outcome(json.dumps(document), "Unhandled", INVALID_CONFIGURATION)
    return None
