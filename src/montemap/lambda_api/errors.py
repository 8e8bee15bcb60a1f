"""Errors of the Lambda API, shaped as botocore expects them (restJson1).

botocore reads the code from the ``x-amzn-ErrorType`` header and the message
from the body's ``message``/``Message``; :func:`error_response` sends both.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from montemap.errors import ApiError


class LambdaError(ApiError):
    """A refused Lambda request: ``code`` is the AWS exception name."""

    def __init__(self, code: str, message: str, *, status: int, reason: str | None = None) -> None:
        super().__init__(code, message, status=status)
        self.reason = reason


def not_found(message: str) -> LambdaError:
    return LambdaError("ResourceNotFoundException", message, status=404)


def conflict(message: str) -> LambdaError:
    return LambdaError("ResourceConflictException", message, status=409)


def invalid(message: str) -> LambdaError:
    return LambdaError("InvalidParameterValueException", message, status=400)


def constraint(message: str) -> LambdaError:
    """A value outside the API model's constraints: Lambda answers ``ValidationException``
    ("1 validation error detected: Value ... failed to satisfy constraint: ...")."""
    return LambdaError("ValidationException", f"1 validation error detected: {message}", status=400)


def bad_content(message: str) -> LambdaError:
    return LambdaError("InvalidRequestContentException", message, status=400)


def precondition(message: str) -> LambdaError:
    return LambdaError("PreconditionFailedException", message, status=412)


def too_large(message: str) -> LambdaError:
    """A request over a quota: the code Lambda sends (botocore's model names the shape
    ``RequestTooLargeException``, but the service answers ``RequestEntityTooLargeException``)."""
    return LambdaError("RequestEntityTooLargeException", message, status=413)


def throttled(message: str, reason: str = "ConcurrentInvocationLimitExceeded") -> LambdaError:
    return LambdaError("TooManyRequestsException", message, status=429, reason=reason)


def error_response(exc: ApiError, request_id: str) -> Response:
    """The HTTP response for a refused request."""
    body: dict[str, object] = {"Type": "User", "Message": exc.message, "message": exc.message}
    if exc.status >= 500:
        body["Type"] = "Service"
    reason = getattr(exc, "reason", None)
    if reason:
        body["Reason"] = reason
    return Response(
        json.dumps(body),
        status_code=exc.status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id},
    )
