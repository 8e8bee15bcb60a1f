"""The public handler harness, montemap.worker.testing.run_handler."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.errors import TIMEOUT
from montemap.worker import (
    INVALID_TASK_INPUT,
    INVALID_TASK_OUTPUT,
    WORKER_SHUTDOWN,
    TaskContext,
    TaskFailure,
)
from montemap.worker.testing import run_handler


def double(event: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    return {"x": event["x"] * 2}


def test_success_returns_the_json_output() -> None:
    result = run_handler(double, {"x": 21})
    assert result.succeeded
    assert result.output == {"x": 42}
    assert result.output_json == '{"x":42}'
    assert result.error is None and not result.timed_out and not result.cancelled
    result.raise_for_failure()  # no failure: nothing raised


def test_task_failure_reports_its_name_and_cause() -> None:
    def handler(event: Any, context: TaskContext) -> None:
        raise TaskFailure("Credit.BadBatch", "3 loans had no balance")

    result = run_handler(handler, {})
    assert not result.succeeded
    assert (result.error, result.cause) == ("Credit.BadBatch", "3 loans had no balance")
    with pytest.raises(TaskFailure) as raised:
        result.raise_for_failure()
    assert raised.value.error == "Credit.BadBatch"


def test_an_exception_is_reported_like_lambda_does() -> None:
    result = run_handler(double, {"y": 1})
    assert result.error == "KeyError"
    cause = result.cause_json()
    assert cause["errorType"] == "KeyError"
    assert cause["errorMessage"] == "'x'"
    assert any("double" in frame for frame in cause["stackTrace"])


def test_the_reported_stack_trace_starts_at_the_handler() -> None:
    """Lambda's Python runtime lists the function's frames only, none of its own; the
    worker's cause likewise starts at the handler, without the worker's frame."""
    result = run_handler(double, {"y": 1})
    frames = result.cause_json()["stackTrace"]
    assert frames and "in double" in frames[0]
    assert not any("montemap/worker" in frame for frame in frames)


def test_input_that_is_not_json_fails_with_a_named_error() -> None:
    result = run_handler(double, raw_input="{not json")
    assert result.error == INVALID_TASK_INPUT
    assert "not JSON" in (result.cause or "")


@pytest.mark.parametrize(
    ("value", "detail"),
    [({1, 2}, "not JSON"), (float("nan"), "not JSON"), ("x" * 300_000, "payload limit")],
)
def test_output_that_cannot_be_sent_fails_with_a_named_error(value: Any, detail: str) -> None:
    result = run_handler(lambda event, context: value, {})
    assert result.error == INVALID_TASK_OUTPUT
    assert detail in (result.cause or "")


def test_null_output_is_a_success() -> None:
    result = run_handler(lambda event, context: None, {})
    assert result.succeeded and result.output is None and result.output_json == "null"


def test_background_heartbeats_are_recorded() -> None:
    def handler(event: Any, context: TaskContext) -> str:
        assert context.wait(0.35) is False
        return "done"

    result = run_handler(handler, {}, heartbeat_interval=0.1, heartbeat_seconds=1.0)
    assert result.succeeded and result.output == "done"
    assert len(result.heartbeats) >= 2
    assert result.heartbeats == sorted(result.heartbeats)


def test_explicit_heartbeats_are_recorded() -> None:
    def handler(event: Any, context: TaskContext) -> int:
        return sum(context.heartbeat() for _ in range(3))

    result = run_handler(handler, {})
    assert result.output == 3 and len(result.heartbeats) == 3


def test_a_lapsed_heartbeat_times_out_and_cancels_the_handler() -> None:
    """The handler beats too rarely: the task times out, the next beat says so,
    the context is cancelled and the late result is dropped."""

    def handler(event: Any, context: TaskContext) -> str:
        context.wait(0.3)
        alive = context.heartbeat()
        assert not alive and context.cancelled
        context.check_cancelled()
        return "never reported"

    result = run_handler(handler, {}, heartbeat_seconds=0.1)
    assert result.timed_out and result.error == TIMEOUT and not result.succeeded
    assert result.cancelled and "no longer waits" in (result.cancel_reason or "")
    assert result.handler_outcome is not None
    assert result.handler_outcome.error == "montemap.TaskCancelled"


def test_timeout_seconds_cancels_a_handler_that_heartbeats() -> None:
    def handler(event: Any, context: TaskContext) -> str:
        context.cancel_event.wait(5.0)
        return "cancelled" if context.cancelled else "not cancelled"

    result = run_handler(handler, {}, heartbeat_interval=0.05, timeout_seconds=0.3)
    assert result.timed_out and result.error == TIMEOUT
    assert result.handler_outcome is not None and result.handler_outcome.output == '"cancelled"'
    assert 0.3 <= result.duration < 5.0


def test_shutdown_lets_a_quick_handler_finish() -> None:
    def handler(event: Any, context: TaskContext) -> dict[str, Any]:
        assert context.shutdown_event.wait(5.0)
        return {"grace_left": context.remaining_grace()}

    result = run_handler(handler, {}, shutdown_after=0.05, shutdown_grace=10.0)
    assert result.succeeded
    assert 0 < result.output["grace_left"] <= 10.0


def test_shutdown_fails_a_slow_handler_when_the_grace_ends() -> None:
    def handler(event: Any, context: TaskContext) -> str:
        context.cancel_event.wait(5.0)
        return "late"

    result = run_handler(handler, {}, shutdown_after=0.0, shutdown_grace=0.2)
    assert result.error == WORKER_SHUTDOWN
    assert "SIGTERM" in (result.cause or "")
    assert result.cancelled
    assert result.handler_outcome is not None and result.handler_outcome.output == '"late"'
    assert result.duration < 5.0


def test_the_handler_log_is_captured_with_the_task_id() -> None:
    def handler(event: Any, context: TaskContext) -> None:
        context.logger.info("loaded %d loans", 400)

    result = run_handler(handler, {})
    messages = [record.getMessage() for record in result.logs]
    assert "loaded 400 loans" in messages
    record = next(r for r in result.logs if r.getMessage() == "loaded 400 loans")
    assert len(record.task_id) == 12  # type: ignore[attr-defined]


def test_the_context_describes_the_task() -> None:
    seen: dict[str, Any] = {}

    def handler(event: Any, context: TaskContext) -> None:
        seen.update(
            token=context.task_token,
            arn=context.activity_arn,
            worker=context.worker_name,
            shutting_down=context.shutting_down,
            grace=context.remaining_grace(),
        )

    run_handler(handler, {}, worker_name="w-1")
    assert seen["token"].startswith("test-token-")
    assert seen["arn"].endswith(":activity:test-activity")
    assert seen["worker"] == "w-1"
    assert seen["shutting_down"] is False and seen["grace"] is None


def test_input_must_be_json_serialisable() -> None:
    with pytest.raises(TypeError):
        run_handler(double, {"x": object()})


@pytest.mark.parametrize(
    "kwargs",
    [{"heartbeat_interval": 0}, {"heartbeat_seconds": -1}, {"shutdown_grace": -1}, {"linger": -1}],
)
def test_harness_options_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        run_handler(double, {"x": 1}, **kwargs)
