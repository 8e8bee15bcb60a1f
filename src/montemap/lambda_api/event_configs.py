"""Event invoke configurations (PutFunctionEventInvokeConfig and the rest): the retries,
maximum event age and destinations of a function's asynchronous invocations.

One configuration per function version or alias (``$LATEST`` when no qualifier is
given), as Lambda keeps them: an invocation through an alias follows the alias's
configuration, an unqualified one ``$LATEST``'s. The queue (:mod:`async_queue`) reads
them at each attempt. Destinations may be Lambda functions of this server only (the
record is delivered as an asynchronous invocation of that function); SQS, SNS,
EventBridge and S3 destinations are refused, as montemap serves none of them.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from montemap.lambda_api.async_queue import Policy
from montemap.lambda_api.errors import constraint, invalid, not_found
from montemap.lambda_api.names import LATEST, FunctionRef, parse_function_name
from montemap.lambda_api.store import Config

if TYPE_CHECKING:
    from montemap.lambda_api.service import LambdaService

#: Lambda's defaults, and the bounds of the two settings (the API model's).
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21600
_RETRIES = ("MaximumRetryAttempts", "maximumRetryAttempts", 0, 2)
_MAX_AGE = ("MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", 60, 21600)
#: Most configurations ListFunctionEventInvokeConfigs answers in one page.
MAX_LIST_ITEMS = 50
_MAX_DESTINATION = 350
_SIDES = ("OnSuccess", "OnFailure")
_LAMBDA_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]+)(:[A-Za-z0-9$_-]+)?$"
)
_OTHER_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:(?P<service>sqs|sns|events|s3):")


class EventInvokeConfigs:
    """The configurations of one server's functions, stored with them (``FunctionStore``)."""

    def __init__(self, service: LambdaService) -> None:
        self.service = service
        self.store = service.store

    def _target(self, function: str, qualifier: str | None, *, mutable: bool) -> FunctionRef:
        """``name`` and qualifier (``$LATEST`` by default) of an existing version or alias."""
        ref = parse_function_name(function, qualifier)
        if mutable:
            self.service._check_mutable(ref.name)
        self.service.resolve(ref)
        return FunctionRef(ref.name, ref.qualifier or LATEST)

    def _missing(self, ref: FunctionRef) -> Exception:
        arn = self.service.arn(ref.name, ref.qualifier)
        return not_found(f"The function {arn} doesn't have an EventInvokeConfig")

    def _answer(self, ref: FunctionRef, config: Config) -> Config:
        return {"FunctionArn": self.service.arn(ref.name, ref.qualifier), **config}

    def put(self, function: str, qualifier: str | None, params: dict[str, Any]) -> Config:
        """PutFunctionEventInvokeConfig: the whole configuration, replaced."""
        ref = self._target(function, qualifier, mutable=True)
        config = self._checked(ref, params, {})
        self.store.put_event_config(ref.name, str(ref.qualifier), config)
        return self._answer(ref, config)

    def update(self, function: str, qualifier: str | None, params: dict[str, Any]) -> Config:
        """UpdateFunctionEventInvokeConfig: the settings given change, the others stay."""
        ref = self._target(function, qualifier, mutable=True)
        current = self.store.event_config(ref.name, str(ref.qualifier))
        if current is None:
            raise self._missing(ref)
        config = self._checked(ref, params, current)
        self.store.put_event_config(ref.name, str(ref.qualifier), config)
        return self._answer(ref, config)

    def get(self, function: str, qualifier: str | None) -> Config:
        ref = self._target(function, qualifier, mutable=False)
        config = self.store.event_config(ref.name, str(ref.qualifier))
        if config is None:
            raise self._missing(ref)
        return self._answer(ref, config)

    def delete(self, function: str, qualifier: str | None) -> None:
        ref = self._target(function, qualifier, mutable=True)
        if self.store.event_config(ref.name, str(ref.qualifier)) is None:
            raise self._missing(ref)
        self.store.put_event_config(ref.name, str(ref.qualifier), None)

    def list(self, function: str, marker: str, max_items: str | None) -> dict[str, Any]:
        """ListFunctionEventInvokeConfigs: the function's configurations, by qualifier."""
        limit = _max_items(max_items)
        ref = parse_function_name(function)
        if ref.qualifier is not None:
            raise invalid("ListFunctionEventInvokeConfigs takes an unqualified function name")
        self.service.resolve(ref)
        found = [(q, c) for q, c in self.store.event_configs(ref.name) if q > marker]
        page = found[:limit]
        out: dict[str, Any] = {
            "FunctionEventInvokeConfigs": [
                self._answer(FunctionRef(ref.name, q), c) for q, c in page
            ]
        }
        if len(found) > limit:
            out["NextMarker"] = page[-1][0]
        return out

    def policy(self, ref: FunctionRef) -> Policy | None:
        """The retries and maximum age the queue gives an invocation of ``ref``."""
        config = self.store.event_config(ref.name, ref.qualifier or LATEST)
        if config is None:
            return None
        return Policy(
            retries=int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
            max_age=float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)),
        )

    def destination(self, ref: FunctionRef, side: str) -> str | None:
        """The ``OnSuccess`` / ``OnFailure`` destination of ``ref``'s configuration."""
        config = self.store.event_config(ref.name, ref.qualifier or LATEST) or {}
        target = config.get("DestinationConfig", {}).get(side, {}).get("Destination")
        return str(target) if target else None

    # ------------------------------------------------------------------ checks

    def _checked(self, ref: FunctionRef, params: dict[str, Any], current: Config) -> Config:
        config = {k: v for k, v in current.items() if k != "LastModified"}
        for key, field, low, high in (_RETRIES, _MAX_AGE):
            value = params.get(key)
            if value is not None:
                config[key] = _bounded(value, key, field, low, high)
        destinations = dict(config.get("DestinationConfig") or {side: {} for side in _SIDES})
        given = params.get("DestinationConfig")
        if given is not None:
            if not isinstance(given, dict):
                raise invalid("DestinationConfig must be an object of OnSuccess and OnFailure")
            for side in _SIDES:
                if side in given:
                    destinations[side] = self._destination(ref, side, given[side])
        config["DestinationConfig"] = destinations
        config["LastModified"] = round(time.time(), 3)
        return config

    def _destination(self, ref: FunctionRef, side: str, value: object) -> Config:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise invalid(f"DestinationConfig.{side} must be an object with a Destination")
        target = value.get("Destination")
        if target is None or target == "":
            return {}
        if not isinstance(target, str):
            raise invalid(f"DestinationConfig.{side}.Destination must be an ARN")
        if len(target) > _MAX_DESTINATION:
            raise constraint(
                f"Value '{target}' at 'destinationConfig.{side[0].lower()}{side[1:]}."
                f"destination' failed to satisfy constraint: Member must have length less "
                f"than or equal to {_MAX_DESTINATION}"
            )
        other = _OTHER_ARN_RE.match(target)
        if other is not None:
            raise invalid(
                f"The destination {target} is not served: montemap delivers the records of "
                "asynchronous invocations to Lambda functions of this server only (an "
                f"{other.group('service')} destination needs AWS; see docs/lambda.md)"
            )
        match = _LAMBDA_ARN_RE.match(target)
        if match is None:
            raise invalid(f"The destination ARN {target} is invalid.")
        service = self.service
        if (match.group("region"), match.group("account")) != (service.region, service.account):
            raise invalid(
                f"The destination {target} is not a function of this server (region "
                f"{service.region}, account {service.account})"
            )
        if match.group("name") == ref.name:
            raise invalid("You can't specify the function as a destination for itself.")
        return {"Destination": target}


def _bounded(value: object, key: str, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"{key} must be a whole number")
    if value < low:
        raise constraint(
            f"Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise constraint(
            f"Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )
    return value


def _max_items(text: str | None) -> int:
    if text is None:
        return MAX_LIST_ITEMS
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIST_ITEMS:
        raise constraint(
            f"Value '{text}' at 'maxItems' failed to satisfy constraint: Member must have "
            f"value less than or equal to {MAX_LIST_ITEMS} and greater than or equal to 1"
        )
    return int(text)
