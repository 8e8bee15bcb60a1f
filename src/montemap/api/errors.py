"""The one place where the engine's errors become AWS error codes.

The engine raises its own errors (:mod:`montemap.engine.errors`), each saying
what was refused; the API answers with the code and HTTP status botocore maps
to its exception classes (``client.exceptions.ExecutionDoesNotExist``...).
"""

from __future__ import annotations

from montemap.engine import errors as engine
from montemap.errors import ApiError, MontemapError

#: Each engine refusal's AWS error code (a subclass takes its nearest listed base's).
AWS_CODES: dict[type[MontemapError], str] = {
    engine.ActivityDoesNotExist: "ActivityDoesNotExist",
    engine.ActivityWorkerLimitExceeded: "ActivityWorkerLimitExceeded",
    engine.ExecutionDoesNotExist: "ExecutionDoesNotExist",
    engine.MapRunDoesNotExist: "ResourceNotFound",
    engine.ResourceNotFound: "ResourceNotFound",
    engine.TaskDoesNotExist: "TaskDoesNotExist",
    engine.TaskTimedOut: "TaskTimedOut",
    engine.InvalidToken: "InvalidToken",
    engine.InvalidArn: "InvalidArn",
    engine.InvalidName: "InvalidName",
    engine.InvalidExecutionInput: "InvalidExecutionInput",
    engine.InvalidOutput: "InvalidOutput",
    engine.PayloadTooLarge: "ValidationException",
    engine.ExecutionAlreadyExists: "ExecutionAlreadyExists",
    engine.ExecutionNotRedrivable: "ExecutionNotRedrivable",
    engine.EngineUnavailable: "ServiceUnavailable",
}

#: HTTP statuses other than 400.
_STATUSES: dict[str, int] = {"ServiceUnavailable": 503}


#: What the API answers as a refusal (anything else is an internal failure).
REFUSALS: tuple[type[MontemapError], ...] = (
    ApiError,
    engine.EngineRefusal,
    engine.EngineUnavailable,
)


def to_api_error(exc: MontemapError) -> ApiError:
    """``exc`` (one of :data:`REFUSALS`) as the API answers it: code, message, status.

    An engine error without a code in :data:`AWS_CODES` is a bug in that table: it
    is answered as a 500 ``InternalFailure`` rather than under a guessed code.
    """
    if isinstance(exc, ApiError):
        return exc
    for cls in type(exc).__mro__:
        code = AWS_CODES.get(cls)
        if code is not None:
            return ApiError(code, str(exc), status=_STATUSES.get(code, 400))
    return ApiError("InternalFailure", f"unmapped error {type(exc).__name__}: {exc}", status=500)
