"""One exception tree for montemap.

Three families, each carrying a structured name:

* :class:`StatesError` - an error raised *inside an execution*. Its ``error``
  is the ASL error name (``States.Timeout``, ``States.TaskFailed`` or a name a
  task reported) and it is what Retry and Catch match against.
* :class:`DefinitionError` - a state machine definition that does not
  validate; it carries every :class:`Diagnostic` found.
* :class:`ApiError` - a request the Step Functions API refuses; it carries the
  AWS error code (``StateMachineDoesNotExist``...) that botocore maps to its
  exception classes.
"""

from __future__ import annotations

from dataclasses import dataclass


class MontemapError(Exception):
    """Base of every error montemap raises on purpose."""


# --------------------------------------------------------------------------- ASL errors

ALL = "States.ALL"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TIMEOUT = "States.Timeout"
TASK_FAILED = "States.TaskFailed"
PERMISSIONS = "States.Permissions"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"

#: Errors that ``States.ALL`` does not catch or retry (AWS: a terminal runtime error).
NOT_MATCHED_BY_ALL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})


_NOT_MATCHED_BY_TASK_FAILED = NOT_MATCHED_BY_ALL | {TIMEOUT, HEARTBEAT_TIMEOUT}


class StatesError(MontemapError):
    """An error raised while an execution runs, named as ASL names it."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


def matches(error_equals: list[str], error: str) -> bool:
    """Whether a Retrier's or Catcher's ``ErrorEquals`` matches ``error``.

    ``States.ALL`` matches everything except the terminal runtime errors;
    ``States.TaskFailed`` matches any error a task reported but not the
    engine's own ``States.Timeout`` (or heartbeat timeout).
    """
    for name in error_equals:
        if name == error:
            return True
        if name == ALL and error not in NOT_MATCHED_BY_ALL:
            return True
        if name == TASK_FAILED and error not in _NOT_MATCHED_BY_TASK_FAILED:
            return True
    return False


# --------------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a definition: where (a JSON pointer) and what."""

    code: str
    message: str
    location: str
    severity: str = "ERROR"

    def __str__(self) -> str:
        return f"{self.location or '/'}: {self.message}"


class DefinitionError(MontemapError):
    """A definition that failed validation; ``diagnostics`` lists every problem."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("; ".join(str(d) for d in diagnostics) or "invalid definition")


# --------------------------------------------------------------------------- API errors


class ApiError(MontemapError):
    """A refused API request, with the AWS error code botocore understands."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class EvaluationError(StatesError):
    """A failure evaluating one of a state's fields (a path, an intrinsic, JSONata).

    ``cause`` holds only the detail ("The JSONPath '$.x' ..."); the interpreter
    prefixes it with the state's name and the event id it was entered at, as
    AWS does: "An error occurred while executing the state 'S' (entered at
    the event id #2). <detail>".
    """


def yaml_error_line(exc: Exception) -> str:
    """A YAML parser's error as one line: ``line L column C: problem`` (PyYAML's own text
    spans several lines, with a copy of the offending line and a caret)."""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1} column {mark.column + 1}: {problem}" if mark else problem
