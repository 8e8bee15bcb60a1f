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
``inspectionData`` (levels DEBUG and TRACE; no HTTP Task runs here, so TRACE
adds nothing) carries the data processing stages: JSONPath ``input``,
``afterInputPath``, ``afterParameters``, ``result``, ``afterResultSelector``,
``afterResultPath``; JSONata ``input``, ``afterArguments``, ``result``; the
``variables`` as they are after the state, and the error details. A state that
has a result (a Task, a JSONPath Pass) runs without its output stages, so that
its raw result comes back; the action then applies those stages with the
engine's own :class:`~montemap.engine.dataflow.StateData`. The input stages are
evaluated the same way before the run (a ``States.UUID()`` or a context field
there shows a value of its own). Each marker state also reads back the variables
the state may have assigned.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from montemap.api.actions.base import Context, Params, Result, action
from montemap.api.actions.state_machines import check_role_arn
from montemap.api.protocol import JsonRefused, strict_loads, validation_error
from montemap.api.validation import check_execution_input
from montemap.arns import ArnFactory
from montemap.asl import jsonata_runner
from montemap.asl.definition import format_invalid_definition, validate_definition
from montemap.asl.json_text import to_json_text
from montemap.asl.result_path import set_result
from montemap.engine.dataflow import JSONATA, JSONPATH, MAX_PAYLOAD_BYTES, StateData, payload_size
from montemap.engine.retry import DEFAULT_INTERVAL, find_catcher, find_retrier, max_attempts
from montemap.engine.single_state import TEST_STATE_MACHINE
from montemap.errors import (
    DATA_LIMIT_EXCEEDED,
    RUNTIME,
    ApiError,
    DefinitionError,
    EvaluationError,
    StatesError,
)

#: The rewritten state's transitions lead to markers named ``<prefix><number>``.
_MARK = "__montemap_next__"
#: The name a state given alone runs under.
DEFAULT_STATE_NAME = "TestState"
_JSONATA = JSONATA
_TIMING = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")
#: A Task's (or JSONPath Pass's) output stages, applied by the action after the run.
_OUTPUT_STAGES = ("ResultSelector", "ResultPath", "OutputPath", "Assign", "Output")
#: States whose End becomes a transition to the end marker (it reads the variables back).
_ENDS_TO_MARK = ("Pass", "Task", "Wait", "Parallel", "Map")
#: Variable names a marker can read back (as JSONPath and JSONata write references).
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INSPECTED_LEVELS = ("DEBUG", "TRACE")


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


def _has_result(state: dict[str, Any], jsonata: bool) -> bool:
    """A state whose raw result TestState shows: a Task, or a JSONPath Pass."""
    kind = state.get("Type")
    return kind == "Task" or (kind == "Pass" and not jsonata)


def _assigned_names(spec: Any) -> list[str]:
    """The variables an Assign field sets (as references name them)."""
    if not isinstance(spec, dict):
        return []
    names = [key.removesuffix(".$") for key in spec if isinstance(key, str)]
    return [name for name in names if _VARIABLE_NAME.fullmatch(name)]


def _marker(target: str | None, jsonata: bool, names: list[str]) -> dict[str, Any]:
    """A state that ends the run with ``{"next": target, "output": its input,
    "variables": {name: value}}`` (``names``: the variables to read back)."""
    if jsonata:
        read: dict[str, Any] = {name: f"{{% ${name} %}}" for name in names}
        output = {"next": target, "output": "{% $states.input %}", "variables": read}
        return {"Type": "Pass", "QueryLanguage": _JSONATA, "Output": output, "End": True}
    read = {f"{name}.$": f"${name}" for name in names}
    parameters = {"next": target, "output.$": "$", "variables": read}
    return {"Type": "Pass", "Parameters": parameters, "End": True}


def _rewritten(
    name: str, state: dict[str, Any], language: str | None, given: list[str]
) -> dict[str, Any]:
    """A definition that runs ``state`` once, each transition leading to a marker
    that reads back the variables ``given`` and those the transition assigned;
    without its output stages if it has a result (the action applies them)."""
    jsonata = (state.get("QueryLanguage") or language) == _JSONATA
    tested = copy.deepcopy(state)
    tested.pop("Retry", None)
    tested.pop("Catch", None)
    has_result = _has_result(state, jsonata)
    if has_result:
        for stage in _OUTPUT_STAGES:
            tested.pop(stage, None)
    markers: list[dict[str, Any]] = []

    def lead(target: Any, assign: Any) -> Any:
        if target is not None and not isinstance(target, str):
            return target  # the validation reports it
        names = given + ([] if has_result else _assigned_names(assign))
        markers.append(_marker(target, jsonata, list(dict.fromkeys(names))))
        return f"{_MARK}{len(markers)}"

    if "Next" in tested:
        tested["Next"] = lead(tested["Next"], state.get("Assign"))
    elif tested.get("End") is True and tested.get("Type") in _ENDS_TO_MARK:
        del tested["End"]
        tested["Next"] = lead(None, state.get("Assign"))
    if tested.get("Type") == "Choice":
        for rule in tested.get("Choices") or []:
            if isinstance(rule, dict) and "Next" in rule:
                rule["Next"] = lead(rule["Next"], rule.get("Assign"))
        if "Default" in tested:
            tested["Default"] = lead(tested["Default"], state.get("Assign"))
    if tested.get("Type") == "Wait" and any(field in tested for field in _TIMING):
        for field in _TIMING:
            tested.pop(field, None)
        tested["Seconds"] = 0  # TestState does not wait (the fields were checked above)
    states: dict[str, Any] = {name: tested}
    for index, marker in enumerate(markers, start=1):
        states[f"{_MARK}{index}"] = marker
    machine: dict[str, Any] = {"StartAt": name, "States": states}
    if language is not None:
        machine["QueryLanguage"] = language
    return machine


def _check(name: str, state: dict[str, Any], language: str | None) -> None:
    """The state validated as AWS validates a definition."""
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


class _Inspection:
    """What one TestState run shows: the stages it reached, then its answer."""

    def __init__(
        self,
        name: str,
        state: dict[str, Any],
        language: str | None,
        params: Params,
        arns: ArnFactory,
    ) -> None:
        self.name = name
        self.arns = arns
        self.role_arn: str = params.get("roleArn") or ""
        self.state = state
        self.jsonata = (state.get("QueryLanguage") or language) == _JSONATA
        self.input_text = params.get("input") or "{}"
        self.input = json.loads(self.input_text)
        self.variables = _variables(params)
        self.data: dict[str, Any] = {"input": self.input_text}

    def state_data(self) -> StateData:
        """What the state's fields are evaluated against, as the run's own."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        run = str(uuid.uuid4())
        context = {
            "Execution": {
                "Id": self.arns.express_execution(TEST_STATE_MACHINE, run),
                "Input": self.input,
                "Name": run,
                "RoleArn": self.role_arn,
                "StartTime": now,
                "RedriveCount": 0,
            },
            "StateMachine": {
                "Id": self.arns.state_machine(TEST_STATE_MACHINE),
                "Name": TEST_STATE_MACHINE,
            },
            "State": {"Name": self.name, "EnteredTime": now, "RetryCount": 0},
        }
        language = _JSONATA if self.jsonata else JSONPATH
        return StateData(language, self.input, context, self.variables, self.name)

    async def input_stages(self) -> None:
        """afterInputPath and afterParameters (JSONPath), afterArguments (JSONata)
        of a state that has them; up to the stage that fails (the run fails there)."""
        kind = self.state.get("Type")
        data = self.state_data()
        try:
            if not self.jsonata and kind not in ("Fail", None):
                effective = data.effective_input(self.state)
                self.data["afterInputPath"] = to_json_text(effective)
                if kind in ("Pass", "Task"):
                    arguments = await data.arguments(self.state, effective)
                    self.data["afterParameters"] = to_json_text(arguments)
            elif self.jsonata and kind == "Task":
                arguments = await data.arguments(self.state, self.input)
                self.data["afterArguments"] = to_json_text(arguments)
        except StatesError:
            pass

    async def output_stages(self, result: Any) -> tuple[Any, dict[str, Any]]:
        """A state's output from its raw ``result``, as the engine's handlers
        compute it; the variables it assigned."""
        data = self.state_data()
        self.data["result"] = to_json_text(result)
        selected = data.select_result(self.state, result)
        if not self.jsonata:
            self.data["afterResultSelector"] = to_json_text(selected)
        await data.assign(self.state.get("Assign"), selected)
        if not self.jsonata:
            merged = set_result(self.input, self.state.get("ResultPath", "$"), selected)
            self.data["afterResultPath"] = to_json_text(merged)
        output = await data.output(self.state, selected)
        if payload_size(output) > MAX_PAYLOAD_BYTES:
            raise StatesError(
                DATA_LIMIT_EXCEEDED,
                f"The state/task '{self.name}' returned a result with a size exceeding "
                "the maximum number of bytes service limit.",
            )
        return output, data.assigned

    def show_variables(self, assigned: dict[str, Any]) -> None:
        values = {**self.variables, **assigned}
        if values:
            self.data["variables"] = to_json_text(values)


async def _succeeded(
    inspection: _Inspection, machine: dict[str, Any], ended: dict[str, Any]
) -> tuple[Result, StatesError | None]:
    """The answer of a run that succeeded, or the error its output stages raised."""
    output = json.loads(ended.get("output") or "null")
    result: Result = {}
    assigned: dict[str, Any] = {}
    if _marks(machine) and isinstance(output, dict) and "next" in output:
        if output["next"] is not None:
            result["nextState"] = output["next"]
        assigned = dict(output.get("variables") or {})
        output = output["output"]
    if _has_result(inspection.state, inspection.jsonata):
        try:
            output, assigned = await inspection.output_stages(output)
        except StatesError as err:
            return {}, err
    inspection.show_variables(assigned)
    result.update(status="SUCCEEDED", output=to_json_text(output))
    return result, None


async def _failed(inspection: _Inspection, err: StatesError) -> Result:
    """The answer of a state that raised ``err``: RETRIABLE, CAUGHT_ERROR or FAILED."""
    state = inspection.state
    result: Result = {"status": "FAILED", "error": err.error}
    if err.cause is not None:
        result["cause"] = err.cause
    inspection.show_variables({})
    if err.error in (RUNTIME, DATA_LIMIT_EXCEEDED):
        return result  # the engine neither retries nor catches these
    retrying = find_retrier(state.get("Retry") or [], err)
    catching = find_catcher(state.get("Catch") or [], err)
    if retrying is not None and max_attempts(retrying[1]) > 0:
        index, retrier = retrying
        result["status"] = "RETRIABLE"
        inspection.data["errorDetails"] = {
            "retryIndex": index,
            "retryBackoffIntervalSeconds": int(retrier.get("IntervalSeconds", DEFAULT_INTERVAL)),
        }
    elif catching is not None:
        try:
            caught = await _caught_output(dict(catching), inspection.jsonata, inspection.input, err)
        except EvaluationError as exc:
            result.update(error=exc.error, cause=exc.cause or str(exc))
        else:
            result.update(
                status="CAUGHT_ERROR", nextState=catching["Next"], output=to_json_text(caught)
            )
            catchers = state.get("Catch") or []
            inspection.data["errorDetails"] = {"catchIndex": catchers.index(catching)}
    return result


@action("TestState")
async def test_state(ctx: Context, params: Params) -> Result:
    if params.get("stateConfiguration") is not None:
        raise validation_error("TestState's stateConfiguration is not supported")
    if params.get("context") is not None:
        if params.get("mock") is None:  # AWS: a context may only come with a mock
            raise validation_error("A context may only be specified with a mock")
        raise validation_error("TestState's context is not supported: no $$ of the caller's")
    if params.get("roleArn") is not None:
        check_role_arn(params["roleArn"])
    check_execution_input(params.get("input") or "{}")
    name, state, language = _the_state(params)
    inspection = _Inspection(name, state, language, params, ctx.arns)
    try:
        _check(name, state, language)
    except DefinitionError as exc:
        raise ApiError("InvalidDefinition", format_invalid_definition(exc.diagnostics)) from None
    mock = _mock(params, state)
    given = [known for known in inspection.variables if _VARIABLE_NAME.fullmatch(known)]
    machine = _rewritten(name, state, language, given)
    await inspection.input_stages()
    ended = await ctx.engine.run_in_memory(
        definition=json.dumps(machine),
        input_text=inspection.input_text,
        variables=inspection.variables,
        role_arn=inspection.role_arn,
        mock=mock,
    )
    err: StatesError | None = None
    if ended.get("status") == "SUCCEEDED":
        result, err = await _succeeded(inspection, machine, ended)
    else:
        err = StatesError(ended.get("error") or "", ended.get("cause"))
    if err is not None:
        result = await _failed(inspection, err)
    if params.get("inspectionLevel", "INFO") in _INSPECTED_LEVELS:
        result["inspectionData"] = inspection.data
    return result


def _marks(machine: dict[str, Any]) -> bool:
    return any(name.startswith(_MARK) for name in machine["States"])
