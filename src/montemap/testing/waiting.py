"""Waiting for a condition in tests: poll with a deadline, never a fixed sleep.

``eventually(check)`` calls ``check`` until it returns a truthy value, which it
returns; a falsy value or an ``AssertionError`` means "not yet". Once ``timeout``
seconds have passed it fails with ``what`` and the last value or error. (A check
that only asserts must end with ``return True``.) A machine under load gets
slower, not wrong: only the deadline grows with it, never the assertion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: How often a condition is polled.
POLL_INTERVAL = 0.02
#: Execution statuses that will still change.
_NOT_ENDED = frozenset({"RUNNING", "PENDING_REDRIVE"})


class NotYet(AssertionError):
    """A condition did not hold before its deadline."""


def _failure(what: str, timeout: float, last: object, error: BaseException | None) -> NotYet:
    detail = f"last error: {error!r}" if error is not None else f"last value: {last!r}"
    return NotYet(f"{what or 'condition'} did not hold within {timeout} s ({detail})")


def eventually(
    check: Callable[[], T | None],
    *,
    timeout: float = 10.0,
    what: str = "",
    interval: float = POLL_INTERVAL,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """The first truthy result of ``check()``, polled until ``timeout`` seconds pass.

    Exceptions of the types in ``retry_on`` (assertions, by default) count as
    "not yet"; anything else propagates at once.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            last = check()
            error = None
            if last:
                return last
        except retry_on as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise _failure(what, timeout, last, error)
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], T | Awaitable[T | None] | None],
    *,
    timeout: float = 10.0,
    what: str = "",
    interval: float = POLL_INTERVAL,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """:func:`eventually` for the event loop: ``check`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            value = check()
            if isinstance(value, Awaitable):
                value = await value
            last = value
            error = None
            if value:
                return value
        except retry_on as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise _failure(what, timeout, last, error)
        await asyncio.sleep(interval)


def wait_for_execution(
    client: object,
    execution_arn: str,
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    retry_on: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """``DescribeExecution`` of an execution once it is no longer RUNNING.

    ``client`` is a boto3 Step Functions client (or anything with its
    ``describe_execution``); a ``PENDING_REDRIVE`` execution has not ended either.
    Errors of the types in ``retry_on`` (say botocore's ``BotoCoreError`` while
    a server restarts) count as "not yet".
    """

    def finished() -> dict[str, Any] | None:
        describe = client.describe_execution  # type: ignore[attr-defined]
        described: dict[str, Any] = describe(executionArn=execution_arn)
        return None if described["status"] in _NOT_ENDED else described

    return eventually(
        finished,
        timeout=timeout,
        interval=interval,
        retry_on=retry_on,
        what=f"execution {execution_arn} ending",
    )
