"""JSONata as an ASL query language: evaluation, Step Functions functions, AWS's messages."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from jsonata.timebox import Timebox
from tests.conformance.corpus import CASES_FILE

from montemap.asl import jsonata_query, jsonata_runner
from montemap.asl.jsonata_functions import MAX_RANGE_ELEMENTS, JavaRandom
from montemap.asl.jsonata_limits import (
    ENV_MEMORY_MB,
    ENV_TIMEOUT_S,
    LimitsError,
    QueryLimits,
    limits_from_env,
)
from montemap.asl.jsonata_query import (
    UNDEFINED,
    evaluate_expression,
    evaluate_field,
    evaluate_field_as,
    expression_body,
    is_expression,
    syntax_error,
)
from montemap.asl.jsonata_references import top_level_references
from montemap.errors import QUERY_EVALUATION_ERROR, EvaluationError

STATES: dict[str, Any] = {
    "input": {"name": "World", "value": 21, "items": [1, 2, 3], "nothing": None, "two": 2.0},
    "context": {"Execution": {"Name": "run-1"}, "Map": {"Item": {"Index": 0, "Value": "a"}}},
}
VARIABLES: dict[str, Any] = {"answer": 42, "empty": None, "nested": {"list": [1, None, "x"]}}


def run(expr: str, **variables: Any) -> Any:
    return evaluate_expression(expr, states=STATES, variables={**VARIABLES, **variables})


def field(value: Any, name: str = "Output", **variables: Any) -> Any:
    return evaluate_field(value, field=name, states=STATES, variables={**VARIABLES, **variables})


def cause_of(expr_or_value: Any, name: str = "Output") -> str:
    with pytest.raises(EvaluationError) as caught:
        field(expr_or_value, name)
    assert caught.value.error == QUERY_EVALUATION_ERROR
    assert caught.value.cause is not None
    return caught.value.cause


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{% $x %}", True),
        ("{%$x%}", True),
        ("{%%}", True),
        (" {% $x %}", False),
        ("{% $x %} ", False),
        ("{% $x", False),
        ("$x %}", False),
        ("{%}", False),
        ("$states.input", False),
        (42, False),
        (None, False),
        (["{% $x %}"], False),
    ],
)
def test_is_expression(value: Any, expected: bool) -> None:
    assert is_expression(value) is expected


def test_expression_body_strips_delimiters_and_blanks() -> None:
    assert expression_body("{%  $states.input  %}") == "$states.input"
    with pytest.raises(ValueError, match="not a JSONata template"):
        expression_body("$states.input")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("a[1,2)", 'Expected "]", got ","'),
        ('"unterminated', "String literal must be terminated by a matching quote"),
        ("1 +", "Unexpected end of expression"),
        ('{"a":}', 'The symbol "}" cannot be used as a unary operator'),
        ("$x :=", "Unexpected end of expression"),
        ('$match("a", /abc', "No terminating / in regular expression"),
        ("", "Unexpected end of expression"),
    ],
)
def test_syntax_error_words_it_as_aws(expr: str, message: str) -> None:
    assert syntax_error(expr) == message


def test_syntax_error_is_none_for_valid_expressions() -> None:
    assert syntax_error("$states.input.items[$ > 1] ~> $sum()") is None
    assert syntax_error("$partition($states.input.items, 2)") is None


# --------------------------------------------------------------------------- values


def test_states_and_variables_are_visible() -> None:
    assert run("'Hello, ' & $states.input.name & '!'") == "Hello, World!"
    assert run("$states.input.value * 2") == 42
    assert run("$answer") == 42
    assert run("$states.context.Map.Item.Value") == "a"
    assert run("$nested.list[2]") == "x"


def test_null_is_not_undefined() -> None:
    assert run("$states.input.nothing") is None
    assert run("$empty") is None
    assert run("$nested.list") == [1, None, "x"]
    assert run("$states.input.missing") is UNDEFINED
    assert run("$noSuchVariable") is UNDEFINED
    assert run("$exists($states.input.nothing)") is True
    assert run("$exists($states.input.missing)") is False


@pytest.mark.parametrize(
    ("expr", "expected", "kind"),
    [
        ("4 / 2", 2, int),
        ("$states.input.two", 2, int),
        ("$states.input.value / 2", 10.5, float),
        ("1.5 + 1.5", 3, int),
        ("$sum([0.5, 0.5, 1])", 2, int),
        ('$parse("-0")', 0, int),
        ('$number("2")', 2, int),
        ("1e300", 1e300, float),
        ("0.1", 0.1, float),
        ("[1.0, 2.5]", [1, 2.5], list),
    ],
)
def test_integral_numbers_come_back_as_int(expr: str, expected: Any, kind: type) -> None:
    result = run(expr)
    assert result == expected
    assert type(result) is kind
    if isinstance(result, list):
        assert type(result[0]) is int


def test_results_are_plain_json() -> None:
    result = run('{"r": [1..3], "o": $states.input, "s": $states.input.items[$ > 1]}')
    assert result == {"r": [1, 2, 3], "o": STATES["input"] | {"two": 2}, "s": [2, 3]}
    assert json.loads(json.dumps(result)) == result
    assert type(result["r"]) is list
    assert type(result["s"]) is list


def test_undefined_members_of_constructed_objects_are_dropped() -> None:
    assert run('{"a": $states.input.missing, "b": 1}') == {"b": 1}
    assert run("[1, $states.input.missing, 2]") == [1, 2]


def test_expressions_cannot_change_states_or_variables() -> None:
    states = json.loads(json.dumps(STATES))
    variables = {"v": {"k": [1, 2]}}
    before = (json.dumps(states), json.dumps(variables))
    result = evaluate_expression(
        "($v.k ~> $append(3); $states.input ~> |$|{'name': 'changed'}|)",
        states=states,
        variables=variables,
    )
    assert result["name"] == "changed"
    copied = evaluate_expression("$states.input", states=states, variables=variables)
    assert copied == states["input"]
    assert copied is not states["input"]
    copied["name"] = "mutated by the caller"
    assert (json.dumps(states), json.dumps(variables)) == before


# --------------------------------------------------------------------------- Step Functions functions


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)", [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        ("$partition([1, 2, 3, 4, 5], 2)", [[1, 2], [3, 4], [5]]),
        ("$partition([0], 1)", [[0]]),
        ("$partition([0, 1, 2], 4)", [[0, 1, 2]]),
        ("$partition([], 2)", []),
        ("$partition([1, 2, 3], 2.9)", [[1, 2], [3]]),
        ("$partition($states.input.items, 2)", [[1, 2], [3]]),
    ],
)
def test_partition(expr: str, expected: Any) -> None:
    assert run(expr) == expected


def test_partition_refuses_a_chunk_size_below_one() -> None:
    cause = cause_of("{% $partition([1, 2], -1) %}")
    assert cause.startswith(
        "The JSONata expression '$partition([1, 2], -1)' specified for the field 'Output' "
        "threw an error during evaluation: "
    )
    assert "positive integer" in cause
    with pytest.raises(EvaluationError, match="positive integer"):
        run("$partition([1], 0.5)")


def test_partition_of_undefined_is_undefined() -> None:
    assert run("$partition($states.input.missing, 2)") is UNDEFINED


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$range(0, 10, 2)", [0, 2, 4, 6, 8, 10]),
        ("$range(0, 10, 3)", [0, 3, 6, 9]),
        ("$range(1, 9, 9)", 1),
        ("$range(10, 0, -5)", [10, 5, 0]),
        ("$range(-1.7, 2, 1)", [-1, 0, 1, 2]),
        ("$count($range(1, 200000, 1))", 200000),
    ],
)
def test_range(expr: str, expected: Any) -> None:
    assert run(expr) == expected


@pytest.mark.parametrize("expr", ["$range(0, 10, 0)", "$range(5, 1, 1)", "$range(1, 5, -1)"])
def test_range_with_nothing_to_produce_is_undefined(expr: str) -> None:
    assert run(expr) is UNDEFINED


def test_range_is_bounded_by_the_memory_limit() -> None:
    assert run(f"$count($range(1, {MAX_RANGE_ELEMENTS}, 1))") == MAX_RANGE_ELEMENTS
    cause = cause_of(f"{{% $range(1, {MAX_RANGE_ELEMENTS + 1}, 1) %}}")
    assert cause.endswith(
        "threw an error during evaluation: "
        "Expression evaluation memory limit exceeded: Check for excessive memory usage"
    )


@pytest.mark.parametrize(
    ("algorithm", "library"),
    [
        ("MD5", "md5"),
        ("SHA-1", "sha1"),
        ("SHA-256", "sha256"),
        ("SHA-384", "sha384"),
        ("SHA-512", "sha512"),
    ],
)
def test_hash(algorithm: str, library: str) -> None:
    expected = hashlib.new(library, "Hash this string ü".encode()).hexdigest()
    assert run(f"$hash('Hash this string ü', '{algorithm}')") == expected


def test_hash_matches_the_value_aws_returns() -> None:
    assert run('$hash("input", "SHA-1")') == "140f86aae51ab9e1cda9b4254fe98a74eb54c1a1"


def test_hash_refuses_an_unknown_algorithm_and_a_non_string() -> None:
    with pytest.raises(EvaluationError, match="'SHA-3' is not supported"):
        run("$hash('x', 'SHA-3')")
    with pytest.raises(EvaluationError, match=r'T0410: Argument 1 of function "hash"'):
        run("$hash(1, 'MD5')")


def test_random_with_a_seed_is_javas_generator() -> None:
    assert run("$random(42)") == 0.7275636800328681
    assert run("$random(42)") == run("$random(42.9)")
    assert JavaRandom(-7).next_double() == JavaRandom(-7).next_double()
    assert run("$random(1)") != run("$random(2)")


def test_random_without_a_seed() -> None:
    values = {run("$random()") for _ in range(20)}
    assert all(0 <= value < 1 for value in values)
    assert len(values) > 1


def test_uuid_is_a_random_version_4_uuid() -> None:
    first, second = run("$uuid()"), run("$uuid()")
    pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(pattern, first)
    assert first != second


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": {"b": [1, null]}}', {"a": {"b": [1, None]}}),
        ("-0", 0),
        ("true", True),
        ("null", None),
        ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
    ],
)
def test_parse(text: str, expected: Any) -> None:
    assert run("$parse($text)", text=text) == expected


def test_parse_reads_into_the_parsed_value() -> None:
    assert run("$parse($text).a", text='{"a": 5}') == 5
    assert run("$parse($states.input.missing)") is UNDEFINED


def test_parse_refuses_text_that_is_not_json() -> None:
    for text in ("{", "NaN", "'single'"):
        with pytest.raises(EvaluationError, match=r"\$parse is not valid JSON"):
            run("$parse($text)", text=text)


def test_eval_is_disabled_as_on_aws() -> None:
    assert cause_of('{% $eval("1+1") %}') == (
        "The JSONata expression '$eval(\"1+1\")' specified for the field 'Output' "
        "threw an error during evaluation. T1006: Attempted to invoke a non-function"
    )


def test_jsonata_builtins_still_work() -> None:
    assert run("$merge([{'hello': 'world'}, {'foo': 'bar'}])") == {"hello": "world", "foo": "bar"}
    assert run('$contains("hello$world", /^hello\\$/)') is True
    assert run("$uppercase($states.input.name)") == "WORLD"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", run("$now()"))
    assert isinstance(run("$millis()"), int)


# --------------------------------------------------------------------------- error messages


def test_undefined_output_is_worded_as_aws() -> None:
    assert cause_of("{% $doesNotExist %}") == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output' "
        "returned nothing (undefined)."
    )


def test_undefined_nested_fields_name_their_path() -> None:
    assert cause_of({"result": "{% $doesNotExist %}"}) == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output/result' "
        "returned nothing (undefined)."
    )
    assert cause_of({"result": "{% $doesNotExist %}"}, "Assign") == (
        "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' "
        "returned nothing (undefined)."
    )
    assert cause_of({"Input": {"pushLocation": "{% $states.input.x %}"}}, "Arguments") == (
        "The JSONata expression '$states.input.x' specified for the field "
        "'Arguments/Input/pushLocation' returned nothing (undefined)."
    )
    assert "'Items[1]'" in cause_of([1, "{% $nope %}"], "Items")


def test_unsupported_result_types() -> None:
    assert cause_of("{% $fn := function($x){$x} %}", "Items") == (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' "
        "returned an unsupported result type."
    )
    assert cause_of("{% /abc/ %}").endswith("returned an unsupported result type.")
    assert cause_of("{% $uppercase %}").endswith("returned an unsupported result type.")
    assert cause_of("{% {'f': function(){1}} %}").endswith("returned an unsupported result type.")


def test_evaluation_errors_carry_the_jsonata_code_and_jsonata_js_text() -> None:
    assert cause_of("{% $sum(['a']) %}") == (
        "The JSONata expression '$sum(['a'])' specified for the field 'Output' threw an "
        'error during evaluation. T0412: Argument 1 of function "sum" must be an array of '
        '"numbers"'
    )
    assert cause_of("{% 'a' + 1 %}").endswith(
        'T2001: The left side of the "+" operator must evaluate to a number'
    )
    assert cause_of("{% $abs('x') %}").endswith(
        'T0410: Argument 1 of function "abs" does not match function signature'
    )


def test_an_expression_that_does_not_compile_fails_at_run_time() -> None:
    assert cause_of("{% 1 + %}") == (
        "The JSONata expression '1 +' specified for the field 'Output' threw an error "
        "during evaluation. S0207: Unexpected end of expression"
    )


def test_evaluate_expression_names_no_field() -> None:
    with pytest.raises(EvaluationError) as caught:
        run("$sum(['a'])")
    assert caught.value.cause is not None
    assert caught.value.cause.startswith("The JSONata expression '$sum(['a'])' threw an error")


# --------------------------------------------------------------------------- fields


def test_nested_templates_are_evaluated_and_literals_kept() -> None:
    value: dict[str, Any] = {
        "greeting": "{% 'Hello, ' & $states.input.name & '!' %}",
        "doubled": "{% $states.input.value * 2 %}",
        "list": [
            None,
            0,
            0.1,
            True,
            "string",
            [],
            "$nosuchvar",
            "{% $answer %}",
            {"k": "{% true %}"},
        ],
        "not.$": "$",
        "spaced": " {% states.input %} ",
        "intrinsic": "States.Format('{}', 1)",
        "empty": {},
    }
    assert field(value) == {
        "greeting": "Hello, World!",
        "doubled": 42,
        "list": [None, 0, 0.1, True, "string", [], "$nosuchvar", 42, {"k": True}],
        "not.$": "$",
        "spaced": " {% states.input %} ",
        "intrinsic": "States.Format('{}', 1)",
        "empty": {},
    }


def test_fields_are_rebuilt_not_shared() -> None:
    value = {"a": [1, {"b": 2}]}
    result = field(value)
    assert result == value
    assert result is not value
    assert result["a"] is not value["a"]


@pytest.mark.parametrize("value", [None, 7, 0.5, True, "plain"])
def test_scalars_are_returned_as_they_are(value: Any) -> None:
    assert field(value) == value


@pytest.mark.parametrize(
    ("template", "variables", "shown", "kind"),
    [
        ("{% 'string' %}", {}, '"string"', "string"),
        ("{% $ItemsVar %}", {"ItemsVar": None}, "null", "null"),
        ("{% $ItemsVar %}", {"ItemsVar": {"foo": "bar"}}, '{"foo":"bar"}', "object"),
        ("{% $ItemsVar %}", {"ItemsVar": True}, "true", "boolean"),
        ("{% $ItemsVar %}", {"ItemsVar": 1}, "1", "number"),
    ],
)
def test_field_of_the_wrong_type_is_worded_as_aws(
    template: str, variables: dict[str, Any], shown: str, kind: str
) -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate_field_as(
            template, field="Items", expected="array", states=STATES, variables=variables
        )
    body = expression_body(template)
    assert caught.value.cause == (
        f"The JSONata expression '{body}' specified for the field 'Items' returned an "
        f"unexpected result type. Expected 'array', but was '{kind}' for value: {shown}"
    )


def test_field_of_the_right_type_passes() -> None:
    args: Mapping[str, Any] = {"states": STATES, "variables": VARIABLES}
    assert evaluate_field_as(
        "{% $states.input.items %}", field="Items", expected="array", **args
    ) == [1, 2, 3]
    assert evaluate_field_as([1, "{% 2 %}"], field="Items", expected="array", **args) == [1, 2]
    assert evaluate_field_as("{% 3.0 %}", field="Seconds", expected="integer", **args) == 3
    assert evaluate_field_as("{% 1 %}", field="X", expected=("string", "number"), **args) == 1
    with pytest.raises(
        EvaluationError, match=r"Expected 'integer', but was 'number' for value: 2\.5"
    ):
        evaluate_field_as("{% 2.5 %}", field="Seconds", expected="integer", **args)
    with pytest.raises(ValueError, match="expected must name JSON types"):
        evaluate_field_as("{% 1 %}", field="X", expected="float", **args)


# --------------------------------------------------------------------------- bounds, cache, threads


def test_runaway_recursion_is_stopped() -> None:
    cause = cause_of("{% ($f := function($x){ 1 + $f($x + 1) }; $f(1)) %}")
    assert "threw an error during evaluation. D1011: Stack overflow" in cause


def test_endless_tail_recursion_times_out() -> None:
    with pytest.raises(EvaluationError) as caught:
        jsonata_query.evaluate_field(
            "{% ($f := function($x){ $f($x + 1) }; $f(1)) %}",
            field="Output",
            states={"input": {}},
            variables={},
            timeout_ms=200,
        )
    assert "D1012: Evaluation timeout after 200 milliseconds" in str(caught.value.cause)


# --------------------------------------------------------------------------- fast path and limits


@pytest.mark.parametrize(
    "template",
    [
        "{% [1..10000000] %}",  # an array past the fast path's cap
        "{% $string([1, 2]) %}",  # a builtin that can amplify
        '{% $match("aaa", /a+/) %}',  # a regular expression
        "{% ($f := function($x){ $f($x + 1) }; $f(1)) %}",  # past the fast budget
    ],
)
def test_the_fast_path_gives_up_on_what_it_cannot_bound(template: str) -> None:
    with pytest.raises(jsonata_query.Escalate):
        jsonata_query.evaluate_field(
            template, field="Output", states={"input": {}}, variables={}, inline=True
        )


def test_the_fast_path_evaluates_ordinary_templates() -> None:
    value = {"a": "{% $states.input.n + 1 %}", "b": ["{% $uppercase($name) %}"]}
    result = jsonata_query.evaluate_field(
        value, field="Output", states={"input": {"n": 1}}, variables={"name": "x"}, inline=True
    )
    assert result == {"a": 2, "b": ["X"]}


def test_a_result_past_the_size_limit_is_a_memory_error() -> None:
    with pytest.raises(EvaluationError) as caught:
        field({"v": "{% [1..20].($big) %}"}, big="x" * (1 << 20))
    assert caught.value.error == QUERY_EVALUATION_ERROR
    assert "memory limit exceeded" in str(caught.value.cause)


def test_the_runner_bounds_a_runaway_in_an_evaluator_process() -> None:
    jsonata_runner.configure(QueryLimits(timeout_s=1, memory_mb=128, workers=1))
    try:
        for template in (
            "{% [1..10000000] %}",
            '{% ($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f("x", 40)) %}',
        ):
            started = time.monotonic()
            with pytest.raises(EvaluationError) as caught:
                asyncio.run(
                    jsonata_runner.evaluate_field(
                        template, field="Output", states={"input": {}}, variables={}
                    )
                )
            assert caught.value.error == QUERY_EVALUATION_ERROR
            assert time.monotonic() - started < 1 + 10  # the limit, plus start-up on a busy machine
        value = asyncio.run(
            jsonata_runner.evaluate_field(
                "{% $string([1, 2]) %}", field="Output", states={"input": {}}, variables={}
            )
        )
        assert value == "[1,2]"
    finally:
        jsonata_runner.shutdown()


def test_limits_come_from_the_environment() -> None:
    limits = limits_from_env({ENV_TIMEOUT_S: "2.5", ENV_MEMORY_MB: "64"})
    assert (limits.timeout_s, limits.memory_mb, limits.workers) == (2.5, 64, 2)
    with pytest.raises(LimitsError, match="MONTEMAP_JSONATA_MEMORY_MB"):
        limits_from_env({ENV_MEMORY_MB: "-1"})


def test_each_expression_is_compiled_once() -> None:
    expr = "$states.input.value + $answer + 0"
    jsonata_query._compile.cache_clear()
    for _ in range(50):
        assert run(expr) == 63
    info = jsonata_query._compile.cache_info()
    assert (info.misses, info.hits) == (1, 49)


def test_the_timeout_clock_starts_at_each_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(Timebox, "current_milli_time", staticmethod(lambda: clock[0]))
    monkeypatch.setattr(jsonata_query, "EVALUATION_TIMEOUT_MS", 50)
    expr = "$states.input.value + 1"
    assert run(expr) == 22
    clock[0] += 1_000  # far past the bound: a clock started at compile time would now trip
    assert run(expr) == 22


def test_concurrent_evaluations_do_not_interfere() -> None:
    expr = "$map($states.input.items, function($v){ $v * $states.input.value + $k })"

    def one(index: int) -> list[int]:
        states = {"input": {"items": list(range(50)), "value": index}}
        return evaluate_expression(expr, states=states, variables={"k": index})  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(64)))
    for index, result in enumerate(results):
        assert result == [v * index + index for v in range(50)]


# --------------------------------------------------------------------------- top-level references


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("phone.number", ["phone"]),
        ("$states.input.items[price > 5].name", []),
        ('{"a": b, "c": $x}', ["b"]),
        ("$f(a, $states.x.(y + z))", ["a"]),
        ("a ? b : c", ["a", "b", "c"]),
        ("function($x){ $x.q + r }", []),
        ("$states.input ~> $map(function($v){ $v.k })", []),
        ("$states.input.items^(price)", []),
        ("$states.input{'k': v}", []),
        ("$", ["$"]),
        ("$$.a", ["$$"]),
        ("$not($states.input.type = 'Private')", []),
    ],
)
def test_top_level_references(expr: str, names: list[str]) -> None:
    assert top_level_references(expr) == names


# --------------------------------------------------------------------------- AWS-recorded cases


def _pass_chain(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    """The states in execution order when the machine is a chain of JSONata Pass states."""
    states = definition.get("States", {})
    top = definition.get("QueryLanguage", "JSONPath")
    chain: list[tuple[str, dict[str, Any]]] = []
    name: str | None = definition.get("StartAt")
    while name is not None:
        state = states.get(name)
        if state is None or state.get("Type") != "Pass" or len(chain) > len(states):
            return None
        if state.get("QueryLanguage", top) != "JSONata":
            return None
        if set(state) - {"Type", "QueryLanguage", "Output", "Assign", "Next", "End", "Comment"}:
            return None
        chain.append((name, state))
        name = None if state.get("End") else state.get("Next")
    return chain


def _run_chain(chain: list[tuple[str, dict[str, Any]]], raw_input: str) -> dict[str, Any]:
    """Run the chain as the interpreter will: Assign and Output see the state's input."""
    data = json.loads(raw_input)
    variables: dict[str, Any] = {}
    for position, (name, state) in enumerate(chain):
        entered = 2 + 2 * position
        states = {
            "input": data,
            "context": {
                "Execution": {"Input": json.loads(raw_input), "Name": "conformance"},
                "State": {"Name": name, "RetryCount": 0},
                "StateMachine": {"Name": "conformance"},
            },
        }
        try:
            assigned = field_of(state, "Assign", states, variables)
            output = field_of(state, "Output", states, variables)
        except EvaluationError as error:
            prefix = f"An error occurred while executing the state '{name}' (entered at the event id #{entered}). "
            return {"status": "FAILED", "error": error.error, "cause": prefix + (error.cause or "")}
        if assigned is not UNDEFINED:
            variables.update(assigned)
        data = data if output is UNDEFINED else output
    return {"status": "SUCCEEDED", "output": data}


def field_of(
    state: dict[str, Any], name: str, states: dict[str, Any], variables: dict[str, Any]
) -> Any:
    if name not in state:
        return UNDEFINED
    return evaluate_field(state[name], field=name, states=states, variables=variables)


@pytest.mark.conformance
def test_simple_jsonata_conformance_cases() -> None:
    path = CASES_FILE
    selected = failed = 0
    failures: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        chain = _pass_chain(json.loads(case["definition"]))
        if not chain:
            continue
        selected += 1
        actual = _run_chain(chain, case["input"])
        expected = case["expected"]
        ok = actual["status"] == expected["status"] and (
            json.loads(expected["output"]) == actual["output"]
            if actual["status"] == "SUCCEEDED"
            else (actual["error"], actual["cause"]) == (expected["error"], expected["cause"])
        )
        if not ok:
            failed += 1
            failures.append(f"{case['id']}: expected {expected}, got {actual}")
    print(f"JSONata Pass-state conformance: {selected - failed}/{selected} passed")
    assert selected >= 30, f"only {selected} simple JSONata cases found in {path}"
    assert not failures, "\n".join(failures)
