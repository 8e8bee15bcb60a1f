"""Payload templates, and the AWS-recorded conformance cases of the simplest shape.

The conformance part takes every case whose definition is a single JSONPath
Pass state with ``Parameters`` (and optionally InputPath, ResultPath,
OutputPath), runs InputPath -> Parameters -> ResultPath -> OutputPath with this
package, and compares with what AWS recorded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conformance.corpus import CASES_FILE

from montemap import errors
from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_syntax import PathError
from montemap.asl.payload import evaluate_payload, is_dynamic_key, output_key
from montemap.asl.result_path import set_result

_SIMPLE_FIELDS = {"Type", "Parameters", "InputPath", "ResultPath", "OutputPath", "End", "Comment"}


# --------------------------------------------------------------------------- unit tests


def test_static_template_is_copied() -> None:
    template = {"a": 1, "b": [1, {"c": None}], "d": {"e": "$.not_a_path"}}
    assert evaluate_payload(template, {"x": 1}, context={}) == template


def test_dynamic_keys_take_paths_and_drop_suffix() -> None:
    data = {"name": "Ann", "items": [1, 2, 3], "nested": {"v": True}}
    template = {
        "who.$": "$.name",
        "all.$": "$",
        "first.$": "$.items[0]",
        "some.$": "$.items[1:]",
        "deep": {"v.$": "$.nested.v", "list": [{"n.$": "$.name"}, "plain"]},
    }
    assert evaluate_payload(template, data, context={}) == {
        "who": "Ann",
        "all": data,
        "first": 1,
        "some": [2, 3],
        "deep": {"v": True, "list": [{"n": "Ann"}, "plain"]},
    }


def test_context_and_variable_paths() -> None:
    context = {"Execution": {"Input": {"k": 7}}, "Map": {"Item": {"Index": 2}}}
    template = {"in.$": "$$.Execution.Input.k", "i.$": "$$.Map.Item.Index", "v.$": "$var.a[0]"}
    result = evaluate_payload(template, {}, context=context, variables={"var": {"a": ["x"]}})
    assert result == {"in": 7, "i": 2, "v": "x"}


def test_intrinsic_value() -> None:
    template = {"msg.$": "States.Format('Hi {}', $.name)"}
    assert evaluate_payload(template, {"name": "Bo"}, context={}) == {"msg": "Hi Bo"}


def test_missing_path_is_runtime_error_with_aws_message() -> None:
    with pytest.raises(errors.EvaluationError) as info:
        evaluate_payload({"JobName.$": "$.JobName"}, {}, context={})
    assert info.value.error == errors.RUNTIME
    assert info.value.cause == (
        "The JSONPath '$.JobName' specified for the field 'JobName.$' could not be found "
        "in the input '{}'"
    )


def test_missing_path_message_renders_input_compactly() -> None:
    with pytest.raises(errors.EvaluationError) as info:
        evaluate_payload({"x.$": "$.x"}, {"a": [1, 2.5, "é"]}, context={})
    assert info.value.cause is not None
    assert info.value.cause.endswith("""in the input '{"a":[1,2.5,"é"]}'""")


def test_missing_intrinsic_path_argument_names_the_field() -> None:
    with pytest.raises(errors.EvaluationError) as info:
        evaluate_payload({"x.$": "States.Array($.nope)"}, {}, context={})
    assert info.value.error == errors.RUNTIME
    assert "'$.nope' specified for the field 'x.$'" in (info.value.cause or "")


def test_non_string_dynamic_value_is_an_error() -> None:
    with pytest.raises(errors.EvaluationError) as info:
        evaluate_payload({"x.$": 3}, {}, context={})
    assert info.value.error == errors.RUNTIME
    assert "'x.$'" in (info.value.cause or "")


def test_key_helpers() -> None:
    assert is_dynamic_key("a.$") and not is_dynamic_key(".$") and not is_dynamic_key("a")
    assert output_key("a.$") == "a" and output_key("a") == "a"


def test_ints_stay_ints() -> None:
    result = evaluate_payload({"v.$": "$.n"}, {"n": 1}, context={})
    assert result == {"v": 1} and isinstance(result["v"], int)


# --------------------------------------------------------------------------- conformance


def _simple_cases() -> list[dict[str, Any]]:
    cases = []
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        definition = json.loads(case["definition"])
        states = definition.get("States", {})
        if len(states) != 1 or definition.get("QueryLanguage") == "JSONata":
            continue
        ((name, state),) = states.items()
        if state.get("Type") != "Pass" or "Parameters" not in state:
            continue
        if not set(state) <= _SIMPLE_FIELDS or case["expected"]["status"] == "TIMED_OUT":
            continue
        case["_state_name"], case["_state"] = name, state
        cases.append(case)
    return cases


SIMPLE_CASES = _simple_cases()


def _select(path: Any, data: Any, context: dict[str, Any]) -> Any:
    if path is None:
        return {}
    try:
        return query(path, data, context=context)
    except PathError as exc:
        raise errors.EvaluationError(errors.RUNTIME, str(exc))


def _run_pass_state(state: dict[str, Any], raw_input: Any) -> Any:
    context = {"Execution": {"Input": raw_input}, "State": {"Name": "S"}}
    effective = _select(state.get("InputPath", "$"), raw_input, context)
    result = evaluate_payload(state["Parameters"], effective, context=context)
    combined = set_result(raw_input, state.get("ResultPath", "$"), result)
    return _select(state.get("OutputPath", "$"), combined, context)


@pytest.mark.conformance
@pytest.mark.parametrize("case", SIMPLE_CASES, ids=[c["id"] for c in SIMPLE_CASES])
def test_conformance_single_pass_state(case: dict[str, Any]) -> None:
    expected = case["expected"]
    raw_input = json.loads(case["input"])
    try:
        output = _run_pass_state(case["_state"], raw_input)
    except errors.EvaluationError as exc:
        assert expected["status"] == "FAILED", f"unexpected {exc.error}: {exc.cause}"
        prefix = (
            f"An error occurred while executing the state '{case['_state_name']}' "
            "(entered at the event id #2). "
        )
        assert exc.error == expected["error"]
        assert prefix + (exc.cause or "") == expected["cause"]
        return
    assert expected["status"] == "SUCCEEDED"
    assert _strict(output) == _strict(json.loads(expected["output"]))


def _strict(value: Any) -> Any:
    """A form where true/false differ from 1/0 under ==."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def test_conformance_corpus_covers_the_intrinsics() -> None:
    intrinsic = [c for c in SIMPLE_CASES if c["category"] == "intrinsic_functions"]
    assert len(intrinsic) >= 60
