"""The intrinsic functions: parsing, validation, every function and its failures."""

from __future__ import annotations

import re
from typing import Any

import pytest

from montemap import errors
from montemap.asl.intrinsic_functions import format_value
from montemap.asl.intrinsic_syntax import (
    Call,
    LiteralArg,
    PathArg,
    StringArg,
    is_intrinsic,
    parse_intrinsic,
)
from montemap.asl.intrinsics import evaluate_intrinsic, validate_intrinsic

DATA: dict[str, Any] = {
    "name": "Arnav",
    "template": "Hello, my name is {}.",
    "arr": [1, 2, 3, 4, 5],
    "dups": [1, 1, "a", "a", {"x": 1, "y": 2}, {"y": 2, "x": 1}, True, 1.0, None, None],
    "obj": {"a": 1, "b": [True, None]},
    "s": "Data to encode",
    "f": 1.1,
}
CONTEXT: dict[str, Any] = {"Execution": {"Input": {"k": "v"}}}


def run(expr: str, data: Any = None, variables: dict[str, Any] | None = None) -> Any:
    return evaluate_intrinsic(
        expr, DATA if data is None else data, context=CONTEXT, variables=variables
    )


def fails(expr: str, data: Any = None, error: str = errors.INTRINSIC_FAILURE) -> str:
    with pytest.raises(errors.EvaluationError) as info:
        run(expr, data)
    assert info.value.error == error
    return info.value.cause or ""


# --------------------------------------------------------------------------- parsing


def test_parse_tree() -> None:
    call = parse_intrinsic(
        "States.Format('a\\{\\}{} \\'q\\' \\\\', $.x, 1, -2.5, true, null, States.UUID())"
    )
    assert call.name == "States.Format"
    template, *rest = call.args
    assert isinstance(template, StringArg)
    assert template.value == "a{}{} 'q' \\"
    assert template.parts == ("a{}", " 'q' \\")
    assert rest == [
        PathArg("$.x"),
        LiteralArg(1),
        LiteralArg(-2.5),
        LiteralArg(True),
        LiteralArg(None),
        Call("States.UUID", ()),
    ]
    assert isinstance(rest[1], LiteralArg) and isinstance(rest[1].value, int)


def test_path_argument_may_contain_commas_and_parentheses() -> None:
    call = parse_intrinsic("States.Array($.a[?(@.b in ['x, y', 'z'])], $['k,1'])")
    assert call.args == (PathArg("$.a[?(@.b in ['x, y', 'z'])]"), PathArg("$['k,1']"))


def test_whitespace_is_allowed_between_tokens() -> None:
    assert run("  States.Array( 1 ,  $.name )  ") == [1, "Arnav"]


def test_is_intrinsic() -> None:
    assert is_intrinsic("States.Array()")
    assert is_intrinsic("States.Nope(1)")
    assert not is_intrinsic("$.States")
    assert not is_intrinsic("States.Array")


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("States.Nope()", "unknown intrinsic function 'States.Nope'"),
        ("States.Array(", "expected an argument"),
        ("States.Array(1 2)", "expected ',' or ')'"),
        ("States.Array('abc)", "unterminated string"),
        ("States.Array('a\\n')", "open escape"),
        ("States.Array($.a[)", "invalid path"),
        ("States.Array(1) x", "unexpected text"),
        ("States.ArrayLength()", "takes 1 argument(s) but 0 were given"),
        ("States.MathRandom(1)", "takes 2 to 3 argument(s)"),
        ("States.Format()", "takes at least 1 argument(s)"),
        ("States.Format('{} {}', 1)", "2 placeholder(s) but 1 value(s)"),
        ("States.Format(1)", "must be a string"),
        ("States.JsonToString('x')", "takes a path argument"),
        ("States.Array(States.Nope())", "unknown intrinsic function"),
        ("Foo.Bar()", "expected an intrinsic function name"),
    ],
)
def test_validation_problems(expr: str, problem: str) -> None:
    message = validate_intrinsic(expr)
    assert message is not None and problem in message
    with pytest.raises(errors.EvaluationError) as info:
        run(expr)
    assert info.value.error == errors.RUNTIME


def test_nesting_limit_is_ten() -> None:
    ten = "States.Array(" * 10 + ")" * 10
    assert validate_intrinsic(ten) is None
    eleven = "States.Array(" * 11 + ")" * 11
    assert "nested more than 10" in (validate_intrinsic(eleven) or "")
    absurd = "States.Array(" * 5000 + ")" * 5000
    assert "nested more than 10" in (validate_intrinsic(absurd) or "")


def test_nested_calls_with_negative_literal() -> None:
    expr = (
        "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
        "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))"
    )
    context = {"StateMachine": {"Name": "my-state-machine-x1"}}
    assert evaluate_intrinsic(expr, {}, context=context) == "x1"


def test_string_literal_may_hold_a_raw_newline() -> None:
    assert run("States.StringSplit('Hello\nWorld', '\n')") == ["Hello", "World"]


def test_nested_calls() -> None:
    expr = (
        "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
        "States.StringSplit($.Arn, '/'), 2), '.'), 0), States.ArrayGetItem("
        "States.StringSplit(States.ArrayGetItem(States.StringSplit($.Arn, '/'), 2), '.'), 1))"
    )
    assert run(expr, {"Arn": "arn:aws:imagebuilder:r:1:image-recipe/my-recipe/1.2.3"}) == "1.2"


# --------------------------------------------------------------------------- arguments


def test_arguments_from_context_and_variables() -> None:
    assert run("States.Array($$.Execution.Input.k, $v.x)", variables={"v": {"x": 2}}) == ["v", 2]


def test_missing_path_argument_is_runtime_error() -> None:
    cause = fails("States.Array($.nope)", error=errors.RUNTIME)
    assert cause.startswith("The JSONPath '$.nope' could not be found in the input '{")


def test_indefinite_path_argument_gives_list() -> None:
    assert run("States.ArrayLength($.arr[1:])") == 4


# --------------------------------------------------------------------------- generic


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("States.Format('Hello, my name is {}.', $.name)", "Hello, my name is Arnav."),
        ("States.Format($.template, $.name)", "Hello, my name is Arnav."),
        ("States.Format('n={} f={} b={} z={}', 1, $.f, true, null)", "n=1 f=1.1 b=true z=null"),
        ("States.Format('{}', $.obj)", "{a=1, b=[true, null]}"),
        ("States.Format('\\{\\} {}', 'x')", "{} x"),
        ("States.Format('none')", "none"),
    ],
)
def test_format(expr: str, expected: str) -> None:
    assert run(expr) == expected


def test_format_placeholder_count_from_path_template() -> None:
    assert "1 placeholder(s) but 2 value(s)" in fails("States.Format($.template, 1, 2)")
    assert "must be a string" in fails("States.Format($.arr)")


def test_format_value_java_style() -> None:
    assert format_value({"k": [1, {"z": "s"}], "d": 1e20}) == "{k=[1, {z=s}], d=1.0E20}"


# --------------------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        (" ", None),
        ("null", None),
        ("-0", 0),
        ("1", 1),
        ("1.1", 1.1),
        ("true", True),
        ('"HelloWorld"', "HelloWorld"),
        ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
        ('{"foo": "bar"}', {"foo": "bar"}),
    ],
)
def test_string_to_json(text: str, expected: Any) -> None:
    result = run("States.StringToJson($.t)", {"t": text})
    assert result == expected and type(result) is type(expected)


def test_string_to_json_failures() -> None:
    assert "could not parse" in fails("States.StringToJson($.t)", {"t": "{bad"})
    assert "NaN is not valid JSON" in fails("States.StringToJson($.t)", {"t": "NaN"})
    assert "must be a string" in fails("States.StringToJson($.t)", {"t": 1})


def test_string_to_json_literal_with_braces() -> None:
    expr = 'States.JsonMerge(States.StringToJson(\'{"c": "false"}\'), $.o, false)'
    assert run(expr, {"o": {"d": 1}}) == {"c": "false", "d": 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (1.1, "1.1"),
        (True, "true"),
        ("HelloWorld", '"HelloWorld"'),
        ([1, 2, "HelloWorld"], '[1,2,"HelloWorld"]'),
        ({"foo": "bar"}, '{"foo":"bar"}'),
        (None, "null"),
    ],
)
def test_json_to_string(value: Any, expected: str) -> None:
    assert run("States.JsonToString($.v)", {"v": value}) == expected


def test_json_merge() -> None:
    data = {"a": {"x": 1, "n": {"p": 1}}, "b": {"y": 2, "n": {"q": 2}}}
    assert run("States.JsonMerge($.a, $.b, false)", data) == {"x": 1, "n": {"q": 2}, "y": 2}
    assert "shallow" in fails("States.JsonMerge($.a, $.b, true)", data)
    assert "must be a object" in fails("States.JsonMerge($.a, 1, false)", data)
    assert "must be a boolean" in fails("States.JsonMerge($.a, $.b, 0)", data)


# --------------------------------------------------------------------------- arrays


def test_array() -> None:
    assert run("States.Array()") == []
    assert run("States.Array('a', 1, $.obj)") == ["a", 1, DATA["obj"]]


@pytest.mark.parametrize(
    ("array", "size", "expected"),
    [
        ([], 1, []),
        ([0, 1], 3, [[0, 1]]),
        ([0, 1, 2], 2, [[0, 1], [2]]),
        ([0, 1, 2, 3], 1, [[0], [1], [2], [3]]),
    ],
)
def test_array_partition(array: list[int], size: int, expected: list[Any]) -> None:
    assert run("States.ArrayPartition($.a, $.n)", {"a": array, "n": size}) == expected


def test_array_partition_failures() -> None:
    assert "must be positive" in fails("States.ArrayPartition($.arr, 0)")
    assert "must be an integer" in fails("States.ArrayPartition($.arr, 1.5)")
    assert "must be a array" in fails("States.ArrayPartition($.name, 1)")


@pytest.mark.parametrize(
    ("array", "value", "expected"),
    [
        ([], None, False),
        ([[1, 2, 3], 2], None, False),
        ([[1, 2, 3], 2], [1, 2, 3], True),
        ([{"1": 2, "2": []}], {"2": [], "1": 2}, True),
        ([True, False], True, True),
        ([1], True, False),
        ([1], 1.0, True),
    ],
)
def test_array_contains(array: list[Any], value: Any, expected: bool) -> None:
    assert run("States.ArrayContains($.a, $.v)", {"a": array, "v": value}) is expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("0, 9, 3", [0, 3, 6, 9]),
        ("0, 10, 3", [0, 3, 6, 9]),
        ("1, 9, 9", [1]),
        ("1, 9, 2", [1, 3, 5, 7, 9]),
        ("10, 0, -4", [10, 6, 2]),
        ("5, 1, 1", []),
        ("0, 999, 1", list(range(1000))),
    ],
)
def test_array_range(args: str, expected: list[int]) -> None:
    assert run(f"States.ArrayRange({args})") == expected


def test_array_range_failures() -> None:
    assert "at most 1000" in fails("States.ArrayRange(0, 1000, 1)")
    assert "must not be zero" in fails("States.ArrayRange(0, 10, 0)")
    assert "must be an integer" in fails("States.ArrayRange(0.5, 10, 1)")


def test_array_get_item_and_length() -> None:
    assert run("States.ArrayGetItem($.arr, 4)") == 5
    assert run("States.ArrayLength($.arr)") == 5
    assert "out of bounds" in fails("States.ArrayGetItem($.arr, 5)")
    assert "out of bounds" in fails("States.ArrayGetItem($.arr, -1)")
    assert "must be a array" in fails("States.ArrayLength($.obj)")


def test_array_unique_keeps_first_of_each() -> None:
    assert run("States.ArrayUnique($.dups)") == [1, "a", {"x": 1, "y": 2}, True, None]


# --------------------------------------------------------------------------- encoding, hashing


def test_base64_round_trip() -> None:
    assert run("States.Base64Encode($.s)") == "RGF0YSB0byBlbmNvZGU="
    assert run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')") == "Data to encode"
    assert run("States.Base64Encode('')") == ""
    assert run("States.Base64Decode('')") == ""
    assert run("States.Base64Decode(States.Base64Encode('héllo'))") == "héllo"


def test_base64_failures() -> None:
    assert "could not decode" in fails("States.Base64Decode('not base64!')")
    assert "at most 10000 characters" in fails("States.Base64Encode($.t)", {"t": "x" * 10001})
    assert run("States.Base64Encode($.t)", {"t": "x" * 10000}).startswith("eHh4")


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
        ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("SHA-256", "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"),
    ],
)
def test_hash(algorithm: str, digest: str) -> None:
    assert run(f"States.Hash('input data', '{algorithm}')") == digest


def test_hash_sha384_and_failures() -> None:
    assert len(run("States.Hash('x', 'SHA-384')")) == 96
    assert "does not support the algorithm 'SHA-3'" in fails("States.Hash('x', 'SHA-3')")
    assert "must be a string" in fails("States.Hash($.arr, 'MD5')")


# --------------------------------------------------------------------------- math


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (-9, 3, -6),
        (1.49, 1.5, 3),
        (1.5, 1.51, 4),
        (-1.5, -1.51, -3),
        (1.49, -1.49, 0),
        (-0.5, 0.5, 1),
        (-0.5, 0, 0),
        (-2.5, 0, -2),
        (-1.51, 0, -2),
        (2147483647, 0, 2147483647),
    ],
)
def test_math_add_rounds_like_java(a: float, b: float, expected: int) -> None:
    result = run("States.MathAdd($.a, $.b)", {"a": a, "b": b})
    assert result == expected and isinstance(result, int)


def test_math_add_failures() -> None:
    assert "between" in fails("States.MathAdd(2147483648, 0)")
    assert "must be a number" in fails("States.MathAdd('1', 0)")


def test_math_random() -> None:
    values = {run("States.MathRandom(1, 4)") for _ in range(200)}
    assert values <= {1, 2, 3} and len(values) > 1
    seeded = [run("States.MathRandom(0, 1000, 7)") for _ in range(3)]
    assert len(set(seeded)) == 1
    assert "less than" in fails("States.MathRandom(5, 5)")


# --------------------------------------------------------------------------- strings, uuid


@pytest.mark.parametrize(
    ("text", "delims", "expected"),
    [
        (" ", ",", [" "]),
        (" , ", ",", [" ", " "]),
        (", , ,", ",", [" ", " "]),
        ("1,2,3", ",", ["1", "2", "3"]),
        ("This.is+a,test=string", ".+,=", ["This", "is", "a", "test", "string"]),
        ("split on T and \nnew line", "T\n", ["split on ", " and ", "new line"]),
        ("abc", "", ["abc"]),
    ],
)
def test_string_split(text: str, delims: str, expected: list[str]) -> None:
    assert run("States.StringSplit($.t, $.d)", {"t": text, "d": delims}) == expected


def test_uuid_is_v4() -> None:
    first, second = run("States.UUID()"), run("States.UUID()")
    pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(pattern, first) and first != second
