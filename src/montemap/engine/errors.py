"""What the engine refuses, as its own errors with structured fields.

The engine never names an AWS error code: each class here says what was
refused and carries the resource it was about; ``montemap.api.errors`` alone
maps these classes to the codes (``ExecutionDoesNotExist``...) that botocore
turns into its exception classes. ``str()`` is the message AWS sends.
"""

from __future__ import annotations

from typing import ClassVar

from montemap.errors import MontemapError


class EngineRefusal(MontemapError):
    """A request the engine refuses; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResourceNotFound(EngineRefusal):
    """No resource of this kind has ``arn``."""

    kind: ClassVar[str] = "Resource"

    def __init__(self, arn: str) -> None:
        super().__init__(f"{self.kind} Does Not Exist: '{arn}'")
        self.arn = arn


class ActivityDoesNotExist(ResourceNotFound):
    kind = "Activity"


class ExecutionDoesNotExist(ResourceNotFound):
    kind = "Execution"


class MapRunDoesNotExist(ResourceNotFound):
    kind = "Map Run"


class TaskDoesNotExist(EngineRefusal):
    """A task token that names no task (or is not a token at all)."""

    def __init__(self) -> None:
        super().__init__("Task Does Not Exist")


class TaskTimedOut(EngineRefusal):
    """A task token whose task is no longer open (timed out, or already answered)."""

    def __init__(self) -> None:
        super().__init__("Task Timed Out: 'Provided task does not exist anymore'")


class InvalidToken(EngineRefusal):
    """A paging token the engine did not issue."""

    def __init__(self, token: str) -> None:
        super().__init__(f"Invalid Token: '{token}'")
        self.token = token


class ActivityWorkerLimitExceeded(EngineRefusal):
    """More pollers wait on one activity than AWS's quota allows."""

    def __init__(self, arn: str, limit: int) -> None:
        super().__init__(
            "The maximum number of workers concurrently polling for activity tasks has been"
            f" reached ({limit} on '{arn}')."
        )
        self.arn = arn


class InvalidTaskToken(InvalidToken):
    """A task token the server could not have issued (AWS's ``InvalidToken``).

    The token is not echoed: it is a credential.
    """

    def __init__(self) -> None:
        EngineRefusal.__init__(self, "Invalid Token: 'Invalid token'")
        self.token = ""


class InvalidArn(EngineRefusal):
    """An ARN that is malformed or names the wrong kind of resource."""

    def __init__(self, arn: str) -> None:
        super().__init__(f"Invalid Arn: '{arn}'")
        self.arn = arn


class InvalidName(EngineRefusal):
    """A name that breaks the naming rules (length, characters)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid Name: '{name}'")
        self.name = name


class InvalidExecutionInput(EngineRefusal):
    """An execution input that is not JSON or is too large; ``detail`` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidOutput(EngineRefusal):
    """A worker's output that is not JSON or is too large; ``detail`` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PayloadTooLarge(EngineRefusal):
    """A request field longer than its limit (``field``, ``limit`` in bytes)."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field} exceeds {limit} bytes")
        self.field = field
        self.limit = limit


class ExecutionAlreadyExists(EngineRefusal):
    """An execution with this ARN exists and differs from the one requested."""

    def __init__(self, arn: str) -> None:
        super().__init__(f"Execution Already Exists: '{arn}'")
        self.arn = arn


class ExecutionNotRedrivable(EngineRefusal):
    """An execution that cannot be redriven, and why."""

    def __init__(self, arn: str, reason: str) -> None:
        super().__init__(f"Execution is not redrivable: {reason}")
        self.arn = arn
        self.reason = reason


class EngineUnavailable(MontemapError):
    """The engine cannot serve the request now (its database cannot commit): retry later."""
