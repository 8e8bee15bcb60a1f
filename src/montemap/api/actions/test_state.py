"""TestState: run one state on an input, without a state machine or an execution.

The state (given alone, or by ``stateName`` in a whole definition) runs in
memory through the engine's own interpreter, inside a small definition made
for it: its ``Retry`` and ``Catch`` are taken out and each transition leads to
a marker state that records where it went. The answer follows AWS's:

* ``SUCCEEDED``: ``output`` and ``nextState`` (none for an end state);
* ``RETRIABLE``: the error matched a retrier that would retry (nothing is
  retried); ``inspectionData.errorDetails`` names it and its first interval;
* ``CAUGHT_ERROR``: a catcher took the error: ``nextState`` is its ``Next`` and
  ``output`` what it passes on;
* ``FAILED``: ``error`` and ``cause``.

A Wait state does not wait. A Task state's call can be mocked (``mock``: its
``result`` or ``errorOutput``; ``fieldValidationMode`` is not applied).
``inspectionData`` (levels DEBUG and TRACE) carries the input, the variables
and the error details.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from montemap.api.actions.base import Context, Params, Result, action
from montemap.api.actions.state_machines import check_role_arn
from montemap.api.protocol import JsonRefused, strict_loads, validation_error
from montemap.api.validation import check_execution_input
from montemap.asl import jsonata_runner
from montemap.asl.definition import format_invalid_definition, validate_definition
from montemap.asl.json_text import to_json_text
from montemap.asl.result_path import set_result
from montemap.engine.retry import DEFAULT_INTERVAL, find_catcher, find_retrier, max_attempts
from montemap.errors import ApiError, DefinitionError, EvaluationError, StatesError

#: Where the rewritten state's transitions lead: ``<prefix><target>``.
_MARK = "__montemap_next__"
#: The name a state given alone runs under.
DEFAULT_STATE_NAME = "TestState"
_JSONATA = "JSONata"
_TIMING = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidDefinition", f"Invalid State Machine Definition: '{message}'")


def _the_state(params: Params) -> tuple[str, dict[str, Any], str | None]:
    """The state to test, its name, and the query language of its definition."""
    try:
        definition = strict_loads(params["definition"])
    except JsonRefused as exc:
        raise _invalid(f"INVALID_JSON_DESCRIPTION: {exc}") from None
    if not isinstance(definition, dict):
        raise _invalid("SCHEMA_VALIDATION_FAILED: The definition must be a JSON object")
    wanted = params.get("stateName")
    if "Type" not in definition and isinstance(definition.get("States"), dict):
        name = wanted or definition.get("StartAt")
        state = definition["States"].get(name) if isinstance(name, str) else None
        if not isinstance(name, str) or not isinstance(state, dict):
            raise validation_error(f"State '{name}' does not exist in the definition")
        language = definition.get("QueryLanguage")
        return name, state, language if isinstance(language, str) else None
    return wanted or DEFAULT_STATE_NAME, definition, None


def _marker(target: str, jsonata: bool) -> dict[str, Any]:
    """A state that ends the run with ``{"next": target, "output": its input}``."""
    if jsonata:
        return {
            "Type": "Pass",
            "Output": {"next": target, "output": "{% $states.input %}"},
            "End": True,
        }
    return {"Type": "Pass", "Parameters": {"next": target, "output.$": "$"}, "End": True}


def _rewritten(name: str, state: dict[str, Any], language: str | None) -> dict[str, Any]:
    """A definition that runs ``state`` once, its transitions leading to markers."""
    jsonata = (state.get("QueryLanguage") or language) == _JSONATA
    tested = copy.deepcopy(state)
    tested.pop("Retry", None)
    tested.pop("Catch", None)
    targets: list[str] = []

    def lead(target: Any) -> Any:
        if not isinstance(target, str):
            return target  # the validation reports it
        targets.append(target)
        return _MARK + target

    if "Next" in tested:
        tested["Next"] = lead(tested["Next"])
    if tested.get("Type") == "Choice":
        for rule in tested.get("Choices") or []:
            if isinstance(rule, dict) and "Next" in rule:
                rule["Next"] = lead(rule["Next"])
        if "Default" in tested:
            tested["Default"] = lead(tested["Default"])
    if tested.get("Type") == "Wait" and any(field in tested for field in _TIMING):
        for field in _TIMING:
            tested.pop(field, None)
        tested["Seconds"] = 0  # TestState does not wait (the fields were checked above)
    states: dict[str, Any] = {name: tested}
    for target in targets:
        states[_MARK + target] = _marker(target, jsonata)
    machine: dict[str, Any] = {"StartAt": name, "States": states}
    if language is not None:
        machine["QueryLanguage"] = language
    return machine


def _check(name: str, state: dict[str, Any], language: str | None) -> dict[str, Any]:
    """The state validated as AWS validates a definition; the definition to run."""
    original: dict[str, Any] = {"StartAt": name, "States": {name: state}}
    extra: dict[str, Any] = {}
    for target in _targets(state):
        extra.setdefault(target, {"Type": "Succeed"})
    original["States"] = {name: state, **{k: v for k, v in extra.items() if k != name}}
    if language is not None:
        original["QueryLanguage"] = language
    errors = [d for d in validate_definition(original) if d.severity == "ERROR"]
    if errors:
        raise ApiError("InvalidDefinition", format_invalid_definition(errors))
    return _rewritten(name, state, language)


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [rule.get("Next") for rule in state.get("Choices") or [] if isinstance(rule, dict)]
    found += [rule.get("Next") for rule in state.get("Catch") or [] if isinstance(rule, dict)]
    return [target for target in found if isinstance(target, str)]


def _variables(params: Params) -> dict[str, Any]:
    text = params.get("variables")
    if text is None:
        return {}
    try:
        value = strict_loads(text)
    except JsonRefused as exc:
        raise validation_error(f"The variables are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise validation_error("The variables must be a JSON object")
    return value


async def _caught_output(
    catcher: dict[str, Any], jsonata: bool, state_input: Any, err: StatesError
) -> Any:
    error_output: dict[str, Any] = {"Error": err.error}
    if err.cause is not None:
        error_output["Cause"] = err.cause
    if jsonata:
        if "Output" not in catcher:
            return error_output
        states = {"input": state_input, "errorOutput": error_output}
        return await jsonata_runner.evaluate_field(
            catcher["Output"], field="Output", states=states, variables={}
        )
    return set_result(state_input, catcher.get("ResultPath", "$"), error_output)


def _mock(params: Params, state: dict[str, Any]) -> dict[str, Any] | None:
    """The request's ``mock``, checked: a Task state's ``result`` (JSON text) or
    ``errorOutput`` (with an ``error``), not both."""
    mock: dict[str, Any] | None = params.get("mock")
    if mock is None:
        return None
    if state.get("Type") != "Task":
        raise validation_error("A mock can be given only for a Task state")
    if ("result" in mock) == ("errorOutput" in mock):
        raise validation_error("A mock needs exactly one of result and errorOutput")
    if "errorOutput" in mock:
        if not mock["errorOutput"].get("error"):
            raise validation_error("The mock's errorOutput needs an error")
        return {"errorOutput": dict(mock["errorOutput"])}
    try:
        strict_loads(mock["result"])
    except JsonRefused as exc:
        raise validation_error(f"The mock's result is not valid JSON: {exc}") from None
    return {"result": mock["result"]}


@action("TestState")
async def test_state(ctx: Context, params: Params) -> Result:
    if params.get("stateConfiguration") is not None:
        raise validation_error("TestState's stateConfiguration is not supported")
    if params.get("roleArn") is not None:
        check_role_arn(params["roleArn"])
    input_text = params.get("input") or "{}"
    check_execution_input(input_text)
    state_input = json.loads(input_text)
    variables = _variables(params)
    name, state, language = _the_state(params)
    try:
        machine = _check(name, state, language)
    except DefinitionError as exc:
        raise ApiError("InvalidDefinition", format_invalid_definition(exc.diagnostics)) from None
    jsonata = (state.get("QueryLanguage") or language) == _JSONATA
    ended = await ctx.engine.run_in_memory(
        definition=json.dumps(machine),
        input_text=input_text,
        variables=variables,
        role_arn=params.get("roleArn") or "",
        mock=_mock(params, state),
    )
    level = params.get("inspectionLevel", "INFO")
    inspection: dict[str, Any] = {"input": input_text}
    if variables:
        inspection["variables"] = to_json_text(variables)
    result: Result = {}
    if ended.get("status") == "SUCCEEDED":
        output = json.loads(ended.get("output") or "null")
        if isinstance(output, dict) and set(output) == {"next", "output"} and _marks(machine):
            result["nextState"] = output["next"]
            output = output["output"]
        result.update(status="SUCCEEDED", output=to_json_text(output))
    else:
        err = StatesError(ended.get("error") or "", ended.get("cause"))
        result.update(status="FAILED", error=err.error)
        if err.cause is not None:
            result["cause"] = err.cause
        retrying = find_retrier(state.get("Retry") or [], err)
        catching = find_catcher(state.get("Catch") or [], err)
        if retrying is not None and max_attempts(retrying[1]) > 0:
            index, retrier = retrying
            result["status"] = "RETRIABLE"
            inspection["errorDetails"] = {
                "retryIndex": index,
                "retryBackoffIntervalSeconds": int(
                    retrier.get("IntervalSeconds", DEFAULT_INTERVAL)
                ),
            }
        elif catching is not None:
            try:
                caught = await _caught_output(dict(catching), jsonata, state_input, err)
            except EvaluationError as exc:
                result.update(error=exc.error, cause=exc.cause or str(exc))
            else:
                result.update(
                    status="CAUGHT_ERROR", nextState=catching["Next"], output=to_json_text(caught)
                )
                catchers = state.get("Catch") or []
                inspection["errorDetails"] = {"catchIndex": catchers.index(catching)}
    if level in ("DEBUG", "TRACE"):
        result["inspectionData"] = inspection
    return result


def _marks(machine: dict[str, Any]) -> bool:
    return any(name.startswith(_MARK) for name in machine["States"])
