"""AWS::Lambda::EventInvokeConfig: the retries, maximum event age and destinations of a
function version's or alias's asynchronous invocations, through the Lambda service's
event invoke configurations (:mod:`montemap.lambda_api.event_configs`).

As AWS's resource schema has it: ``FunctionName`` and ``Qualifier`` are required and
name the configuration (a change of either replaces it), ``Ref`` gives
``FunctionName|Qualifier`` and there is no ``Fn::GetAtt`` attribute. The template holds
the whole configuration: an update replaces it (a setting no longer named returns to
Lambda's default), a delete removes it.
"""

from __future__ import annotations

import re
from typing import Any

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure
from montemap.cloudformation.providers.base import Outcome, Request, calling, required
from montemap.errors import ApiError

TYPE = "AWS::Lambda::EventInvokeConfig"
_PROPERTIES = frozenset(
    {"FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
    | {"DestinationConfig"}
)
#: (lowest, highest) of the integer properties (the resource schema's).
_BOUNDS = {"MaximumRetryAttempts": (0, 2), "MaximumEventAgeInSeconds": (60, 21600)}
_QUALIFIER = re.compile(r"\$LATEST|[a-zA-Z0-9$_-]{1,129}")
_SIDES = ("OnSuccess", "OnFailure")


def _failed(request: Request, message: str) -> ResourceFailure:
    return ResourceFailure(
        f"Properties validation failed for resource {request.logical_id} with message: [{message}]"
    )


def _integer(request: Request, key: str) -> int | None:
    value = request.properties.get(key)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        value = int(value)  # CloudFormation takes "2" for an Integer property
    if not isinstance(value, int) or isinstance(value, bool):
        raise _failed(request, f"#/{key}: expected type: Integer, found: {type(value).__name__}")
    low, high = _BOUNDS[key]
    if value < low:
        raise _failed(request, f"#/{key}: {value} is not greater or equal to {low}")
    if value > high:
        raise _failed(request, f"#/{key}: {value} is not less or equal to {high}")
    return value


def _destinations(request: Request) -> dict[str, Any] | None:
    given = request.properties.get("DestinationConfig")
    if given is None:
        return None
    if not isinstance(given, dict):
        raise _failed(request, "#/DestinationConfig: expected type: JSONObject")
    out: dict[str, Any] = {}
    for key, side in given.items():
        if key not in _SIDES:
            raise _failed(request, f"#/DestinationConfig: extraneous key [{key}] is not permitted")
        if not isinstance(side, dict):
            raise _failed(request, f"#/DestinationConfig/{key}: expected type: JSONObject")
        extra = sorted(k for k in side if k != "Destination")
        if extra:
            raise _failed(
                request, f"#/DestinationConfig/{key}: extraneous key [{extra[0]}] is not permitted"
            )
        target = side.get("Destination")
        if not isinstance(target, str):
            raise _failed(
                request, f"#/DestinationConfig/{key}: required key [Destination] not found"
            )
        out[key] = {"Destination": target}
    return out


def _target(request: Request) -> tuple[str, str]:
    """``FunctionName`` and ``Qualifier``, as the template gives them (both required)."""
    function, qualifier = required(request, "FunctionName"), required(request, "Qualifier")
    for key, value in (("FunctionName", function), ("Qualifier", qualifier)):
        if not isinstance(value, str):
            raise _failed(request, f"#/{key}: expected type: String")
    if _QUALIFIER.fullmatch(qualifier) is None:
        raise _failed(
            request,
            f"#/Qualifier: string [{qualifier}] does not match pattern {_QUALIFIER.pattern}",
        )
    return function, qualifier


def _params(request: Request) -> dict[str, Any]:
    unknown = sorted(set(request.properties) - _PROPERTIES)
    if unknown:
        raise _failed(request, f"#: extraneous key [{unknown[0]}] is not permitted")
    params: dict[str, Any] = {}
    for key in _BOUNDS:
        value = _integer(request, key)
        if value is not None:
            params[key] = value
    destinations = _destinations(request)
    if destinations is not None:
        params["DestinationConfig"] = destinations
    return params


async def _run(action: Any) -> Any:
    return action()


class EventInvokeConfigProvider:
    async def create(self, request: Request) -> Outcome:
        function, qualifier = _target(request)
        params = _params(request)
        configs = request.services.lambdas.event_configs
        identifier = f"{function}|{qualifier}"
        if await _exists(configs, function, qualifier):
            # as CloudFormation's handler: a configuration it did not make is not taken over
            raise ResourceFailure(
                f"Resource of type '{TYPE}' with identifier '{identifier}' already exists."
            )
        await calling(lambda: _run(lambda: configs.put(function, qualifier, params)))
        return Outcome(identifier)

    async def update(self, request: Request) -> Outcome:
        function, qualifier = _target(request)
        changed = [
            key
            for key in ("FunctionName", "Qualifier")
            if request.properties.get(key) != request.old_properties.get(key)
        ]
        if changed:
            raise NeedsReplacement(f"{', '.join(changed)} cannot change (a replacement)")
        params = _params(request)
        configs = request.services.lambdas.event_configs
        await calling(lambda: _run(lambda: configs.put(function, qualifier, params)))
        return Outcome(f"{function}|{qualifier}")

    async def delete(self, request: Request) -> None:
        function, _, qualifier = request.physical_id.rpartition("|")
        if not function:
            return None  # recorded before this provider acted: nothing was applied
        configs = request.services.lambdas.event_configs
        try:
            configs.delete(function, qualifier)
        except ApiError as exc:
            if exc.code != "ResourceNotFoundException":  # gone already (its function too)
                raise ResourceFailure(f"{exc.message} (Service: {exc.code})") from None
        return None


async def _exists(configs: Any, function: str, qualifier: str) -> bool:
    """Whether the version or alias has a configuration; a missing function or qualifier
    is left to the Put, which refuses it with Lambda's message."""
    try:
        configs.get(function, qualifier)
    except ApiError:
        return False
    return True
