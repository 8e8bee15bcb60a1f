"""Handlers for the simple state types: Pass, Choice, Wait, Succeed, Fail.

A handler takes (run, frame, name, state, data) and returns an
:class:`~montemap.engine.run.Outcome`, or raises a StatesError. Resumable
progress lives in ``frame.phase`` under keys starting with ``task_``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from montemap.asl.json_text import to_json_text
from montemap.asl.jsonata_query import expression_body
from montemap.asl.jsonpath_syntax import PathError
from montemap.engine.choice import evaluate_rule, parse_timestamp
from montemap.engine.dataflow import StateData
from montemap.engine.run import Outcome
from montemap.engine.store import FrameRow
from montemap.errors import (
    NO_CHOICE_MATCHED,
    QUERY_EVALUATION_ERROR,
    RUNTIME,
    EvaluationError,
    StatesError,
)
from montemap.jsontypes import json_type_name

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun

Handler = Callable[
    ["ExecutionRun", FrameRow, str, Mapping[str, Any], StateData], Awaitable[Outcome]
]


def _next(state: Mapping[str, Any]) -> str | None:
    return None if state.get("End") else state.get("Next")


async def run_pass(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    effective = data.effective_input(state)
    if data.jsonata:
        await data.assign(state.get("Assign"), None)
        output = await data.output(state, None, has_result=False)
        return Outcome(output, _next(state))
    result = state["Result"] if "Result" in state else await data.arguments(state, effective)
    data.select_result(state, result)
    await data.assign(state.get("Assign"), result)
    return Outcome(await data.output(state, result), _next(state))


async def run_succeed(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    if data.jsonata:
        return Outcome(await data.output(state, None, has_result=False), None)
    effective = data.effective_input(state)
    output = effective
    if "OutputPath" in state:
        output = (
            {}
            if state["OutputPath"] is None
            else data.path(state["OutputPath"], effective, "OutputPath")
        )
    return Outcome(output, None)


async def run_fail(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    error: Any = state.get("Error")
    cause: Any = state.get("Cause")
    if data.jsonata:
        if error is not None:
            error = await data.eval_jsonata(error, "Error")
        if cause is not None:
            cause = await data.eval_jsonata(cause, "Cause")
    else:
        if "ErrorPath" in state:
            error = _path_value(data, state["ErrorPath"], "ErrorPath")
        if "CausePath" in state:
            cause = _path_value(data, state["CausePath"], "CausePath")
    err = StatesError(
        error if isinstance(error, str) else ("" if error is None else to_json_text(error)),
        cause if cause is None or isinstance(cause, str) else to_json_text(cause),
    )
    if error is None:
        err.error = None  # type: ignore[assignment]
    raise err


def _path_value(data: StateData, expr: str, field: str) -> Any:
    try:
        return data.intrinsic_or_path(expr, data.raw_input)
    except PathError:
        raise EvaluationError(RUNTIME, f"Invalid path '{expr}' : No results for path: {expr}")


async def run_choice(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    effective = data.effective_input(state)
    for index, rule in enumerate(state.get("Choices", [])):
        if data.jsonata:
            matched = await data.eval_jsonata(rule.get("Condition"), f"Choices/{index}/Condition")
            if not isinstance(matched, bool):
                raise EvaluationError(
                    QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{expression_body(str(rule.get('Condition')))}' "
                    "specified for the field 'Condition' returned an unexpected result type. "
                    f"Expected 'boolean', but was '{json_type_name(matched)}' for value: "
                    f"{to_json_text(matched)}",
                )
        else:
            matched = evaluate_rule(rule, effective, context=data.context, variables=data.variables)
        if matched:
            await data.assign(rule.get("Assign"), effective)
            if data.jsonata and "Output" in rule:
                return Outcome(await data.eval_jsonata(rule["Output"], "Output"), rule["Next"])
            return Outcome(await _choice_output(data, state, effective), rule["Next"])
    if "Default" in state:
        await data.assign(state.get("Assign"), effective)
        return Outcome(await _choice_output(data, state, effective), state["Default"])
    raise StatesError(NO_CHOICE_MATCHED, "No Matches!")


async def _choice_output(data: StateData, state: Mapping[str, Any], effective: Any) -> Any:
    if data.jsonata:
        return await data.output(state, None, has_result=False)
    if "OutputPath" in state:
        return (
            {}
            if state["OutputPath"] is None
            else data.path(state["OutputPath"], effective, "OutputPath")
        )
    return effective


async def run_wait(
    run: ExecutionRun, frame: FrameRow, name: str, state: Mapping[str, Any], data: StateData
) -> Outcome:
    effective = data.effective_input(state)
    until_text = frame.phase.get("task_wait_until")
    if until_text is None:
        until = await _wait_deadline(run, state, data, effective)
        frame.phase["task_wait_until"] = until.isoformat()
        run.commit(frame, [])
    else:
        until = datetime.fromisoformat(until_text)
    await run.engine.clock.sleep_until(until)
    await data.assign(state.get("Assign"), effective)
    if data.jsonata:
        return Outcome(await data.output(state, None, has_result=False), _next(state))
    output = effective
    if "OutputPath" in state:
        output = (
            {}
            if state["OutputPath"] is None
            else data.path(state["OutputPath"], effective, "OutputPath")
        )
    return Outcome(output, _next(state))


#: AWS's bound on a Wait state's seconds (Seconds, SecondsPath): an integer 0..99999999.
MAX_WAIT_SECONDS = 99_999_999


async def _wait_deadline(
    run: ExecutionRun, state: Mapping[str, Any], data: StateData, effective: Any
) -> datetime:
    now = run.engine.clock.now()
    if "Seconds" in state:
        seconds = state["Seconds"]
        if data.jsonata:
            seconds = await data.eval_jsonata(seconds, "Seconds")
        if not _wait_seconds(seconds):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The Seconds field must be an integer from 0 to {MAX_WAIT_SECONDS}, "
                f"but was: {seconds}",
            )
        return now + timedelta(seconds=seconds)
    if "Timestamp" in state:
        text = state["Timestamp"]
        if data.jsonata:
            text = await data.eval_jsonata(text, "Timestamp")
        ts = _utc_timestamp(text)
        if ts is None:
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time "
                f"format string: {text}{_case_hint(text)}",
            )
        return ts
    if "SecondsPath" in state:
        path = state["SecondsPath"]
        value = _wait_path_value(data, path, effective, "SecondsPath")
        seconds = value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            seconds = int(value)  # 2.0 is 2, as with Seconds (a long)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise EvaluationError(
                RUNTIME,
                f"The SecondsPath parameter cannot be parsed as a long value: {path} == {value}",
            )
        if seconds < 0:
            raise EvaluationError(
                RUNTIME, f"The SecondsPath parameter references a negative value: {path} == {value}"
            )
        if seconds > MAX_WAIT_SECONDS:
            raise EvaluationError(
                RUNTIME,
                f"The SecondsPath parameter references a value larger than {MAX_WAIT_SECONDS}: "
                f"{path} == {value}",
            )
        return now + timedelta(seconds=seconds)
    path = state["TimestampPath"]
    value = _wait_path_value(data, path, effective, "TimestampPath")
    ts = _utc_timestamp(value)
    if ts is None:
        raise EvaluationError(
            RUNTIME,
            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
            f"date-time format string: {path} == {value}{_case_hint(value)}",
        )
    return ts


def _wait_seconds(value: Any) -> bool:
    """Whether ``value`` is a Wait state's number of seconds (``5.0`` counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value == value and 0 <= value <= MAX_WAIT_SECONDS and float(value).is_integer()


def _utc_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp in UTC; None when it is not one or falls outside years 1-9999."""
    ts = parse_timestamp(value)
    if ts is None:
        return None
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        return None


def _case_hint(value: Any) -> str:
    """What to add to AWS's message when ``value`` is a timestamp but for a lowercase ``t``
    or ``z`` (RFC 3339 allows them; Step Functions requires uppercase)."""
    if isinstance(value, str) and parse_timestamp(value.upper()) is not None:
        return (
            " (an uppercase 'T' must separate the date and the time, and an uppercase 'Z' mark UTC)"
        )
    return ""


def _wait_path_value(data: StateData, path: str, effective: Any, field: str) -> Any:
    try:
        return data.intrinsic_or_path(path, effective)
    except PathError:
        raise EvaluationError(
            RUNTIME, f"The {field} parameter does not reference an input value: {path}"
        )


def handlers() -> dict[str, Handler]:
    from montemap.engine.parallel import run_map, run_parallel
    from montemap.engine.tasks import run_task

    return {
        "Pass": run_pass,
        "Succeed": run_succeed,
        "Fail": run_fail,
        "Choice": run_choice,
        "Wait": run_wait,
        "Task": run_task,
        "Parallel": run_parallel,
        "Map": run_map,
    }


class _LazyHandlers(dict[str, Handler]):
    def __missing__(self, key: str) -> Handler:
        self.update(handlers())
        return dict.__getitem__(self, key)


HANDLERS: dict[str, Handler] = _LazyHandlers()
