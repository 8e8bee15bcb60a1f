"""The attempts of the asynchronous invocation queue, and the records it sends to a
function's destinations.

An attempt runs the function without waiting for a slot: a throttle (the function's
reserved concurrency is used up) goes back to the queue, which tries again after a
backoff, as Lambda does for up to the event's maximum age. With reserved concurrency 0
the event is given up at once, its ``OnFailure`` destination told with condition
``ZeroReservedConcurrency`` (Lambda's documented behaviour: no retries). Once an invocation has
ended, the ``OnSuccess`` / ``OnFailure`` destination of its event invoke configuration
(a Lambda function) is invoked asynchronously with Lambda's invocation record::

    {"version": "1.0", "timestamp": "...Z",
     "requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
     "requestPayload": ..., "responseContext": {"statusCode", "executedVersion",
     "functionError"}, "responsePayload": ...}

(``responseContext`` and ``responsePayload`` only where an attempt ran).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from montemap.lambda_api.async_queue import Attempt, GiveUp, Queued, Throttled
from montemap.lambda_api.errors import LambdaError
from montemap.lambda_api.names import LATEST, parse_function_name
from montemap.lambda_api.runtime import Outcome

if TYPE_CHECKING:
    from montemap.lambda_api.service import LambdaService

log = logging.getLogger("montemap.lambda")
#: The condition of an event given up because its function's reserved concurrency is 0.
ZERO_RESERVED = "ZeroReservedConcurrency"


class AsyncRuns:
    """``run`` and ``done`` of the service's queue."""

    def __init__(self, service: LambdaService) -> None:
        self.service = service

    async def run(self, item: Queued) -> Attempt:
        """One attempt: ``Throttled`` without a free slot; not ok on a function error."""
        try:
            outcome, version = await self.service.invoke(
                item.ref, item.event, request_id=item.request_id
            )
        except LambdaError as exc:
            if (
                exc.code == "TooManyRequestsException"
                and self.service.store.reserved(item.ref.name) == 0
            ):  # Lambda sends it to the on-failure destination, no retries
                raise GiveUp(ZERO_RESERVED) from None
            if exc.code == "TooManyRequestsException":
                raise Throttled(exc.message) from None
            raise
        if outcome.function_error:
            log.warning(
                "asynchronous invocation %s of %s failed (attempt %d): %s",
                item.request_id,
                item.ref.name,
                item.attempts + 1,
                outcome.error_type,
            )
        return Attempt(not outcome.function_error, (outcome, version))

    def done(self, item: Queued, condition: str, attempts: int, last: Attempt | None) -> None:
        """Send the invocation record to the destination its configuration names."""
        side = "OnSuccess" if condition == "Success" else "OnFailure"
        target = self.service.event_configs.destination(item.ref, side)
        if target is None:
            return
        record = self.record(item, condition, attempts, last)
        self.service.queue.put(parse_function_name(target), json.dumps(record))

    def record(
        self, item: Queued, condition: str, attempts: int, last: Attempt | None
    ) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": now,
            "requestContext": {
                "requestId": item.request_id,
                "functionArn": self.service.arn(item.ref.name, item.ref.qualifier or LATEST),
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": _json(item.event),
        }
        if last is not None and isinstance(last.detail, tuple):
            outcome, version = last.detail
            assert isinstance(outcome, Outcome)
            context: dict[str, Any] = {"statusCode": 200, "executedVersion": version}
            if outcome.function_error:
                context["functionError"] = outcome.function_error
            record["responseContext"] = context
            record["responsePayload"] = _json(outcome.payload)
        return record


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # a response-streaming handler's bytes need not be JSON
        return text
