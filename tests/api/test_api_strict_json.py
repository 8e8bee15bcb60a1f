"""Strict JSON at the edge: depth, numbers, NaN and lone surrogates, called directly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from montemap.api.protocol import (
    MAX_JSON_DEPTH,
    JsonRefused,
    check_depth,
    check_value,
    parse_body,
    strict_loads,
)
from montemap.api.validation import (
    MAX_PAYLOAD_BYTES,
    check_execution_input,
    check_json_payload,
    operation_model,
    validate_input,
)
from montemap.errors import ApiError


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_parses() -> None:
    assert strict_loads(nested(MAX_JSON_DEPTH)) is not None
    objects = '{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH
    assert strict_loads(objects)["a"] is not None


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000, 1_000_000])
def test_deeper_nesting_is_refused_without_recursion(depth: int) -> None:
    with pytest.raises(JsonRefused, match=f"nested more than {MAX_JSON_DEPTH} levels"):
        strict_loads(nested(depth))


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps(["[" * 2000, {"k{[": '\\"[[[' * 1000}])
    check_depth(text)
    assert strict_loads(text)[0] == "[" * 2000


@pytest.mark.timeout(15)
def test_an_open_string_of_escaped_quotes_is_scanned_once() -> None:
    """Many openers, then a string that never closes, full of ``\\"``: the depth check
    used to rescan the rest of the text at every quote (quadratic: ~2 minutes for these
    200 KB, within a request's size; a server blocked for it). Now a scan, and the text
    is refused as JSON that does not parse."""
    quotes = '\\"' * 100_000
    with pytest.raises(JsonRefused, match="nested more than"):
        check_depth("[" * (MAX_JSON_DEPTH + 1) + '"' + quotes)
    check_depth("[" * 10 + '"' + "[" * 600 + quotes)  # the open string holds the rest
    with pytest.raises(JsonRefused, match="Unterminated string"):
        strict_loads("[" * 10 + '"' + "[" * 600 + quotes)


@pytest.mark.parametrize(
    "text",
    [
        "1" * 5000,
        "-" + "1" * 310,
        str(2**1024),
        "1e309",
        "-1e400",
        "[0.5e99999]",
        "9" * 250 + "e99",
        "-" + "9" * 210 + ".5E+99",
    ],
)
def test_numbers_outside_a_double_are_refused(text: str) -> None:
    with pytest.raises(JsonRefused, match="outside the range of a double"):
        strict_loads(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12345678901234567890", 12345678901234567890),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("1e-400", 0.0),
        ("[" + "9" * 299 + "]", [int("9" * 299)]),
    ],
)
def test_numbers_a_double_holds_are_kept(text: str, value: Any) -> None:
    assert strict_loads(text) == value


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    with pytest.raises(JsonRefused, match=f"{constant} is not a JSON value"):
        strict_loads(f'{{"n": {constant}}}')


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("\ud800", "$"),
        ({"a": ["ok", {"b": "x\udfff"}]}, "$.a[1].b"),
        ({"\udc00": 1}, "a key of $"),
    ],
)
def test_lone_surrogates_are_refused_at_any_depth(value: Any, where: str) -> None:
    text = json.dumps(value)  # ASCII escapes: "\ud800"
    with pytest.raises(JsonRefused, match="lone surrogate") as info:
        strict_loads(text)
    assert where in str(info.value)
    str(info.value).encode("utf-8")  # the message itself can be sent


def test_surrogate_pairs_are_characters() -> None:
    assert strict_loads('"\\ud83d\\ude00"') == "\U0001f600"
    assert strict_loads('"\\\\ud800"') == "\\ud800"  # an escaped backslash, not an escape


def test_check_value_walks_loaded_values() -> None:
    check_value({"a": [1, 2.5, "x", None, True]})
    for bad in ({"a": float("nan")}, [float("inf")], {"k": 10**400}, ["\ud800"]):
        with pytest.raises(JsonRefused):
            check_value(bad)
    deep: Any = []
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    with pytest.raises(JsonRefused, match="nested more than"):
        check_value(deep)


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a": 1e999}', b'{"a": "\\ud800"}', b'{"\\udbff": 1}', b"1" * 5000],
)
def test_parse_body_answers_serialization_exception(body: bytes) -> None:
    with pytest.raises(ApiError) as info:
        parse_body(body)
    assert info.value.code == "SerializationException"
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "Expecting value"),
        ('{"a": NaN}', "NaN"),
        (nested(100_000), "nested"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ("x" * (MAX_PAYLOAD_BYTES + 1), "maximum size of 262144 bytes"),
        ('"' + "\u00e9" * (MAX_PAYLOAD_BYTES // 2) + '"', "maximum size"),
    ],
)
def test_execution_input_is_checked_like_aws(text: str, says: str) -> None:
    with pytest.raises(ApiError) as info:
        check_execution_input(text)
    assert info.value.code == "InvalidExecutionInput"
    assert says in info.value.message


def test_payload_code_is_the_callers() -> None:
    with pytest.raises(ApiError) as info:
        check_json_payload("[1e400]", "InvalidOutput", "Output")
    assert info.value.code == "InvalidOutput"
    assert info.value.message.startswith("Invalid Output: '")
    check_json_payload('{"fine": [1, 2, 3]}', "InvalidOutput", "Output")


def test_model_validation_refuses_surrogates_without_echoing_them() -> None:
    operation = operation_model("CreateActivity")
    assert operation is not None
    with pytest.raises(ApiError) as info:
        validate_input(operation, {"name": "act\ud800", "tags": [{"key": "\udc00", "value": "v"}]})
    assert info.value.code == "ValidationException"
    assert "2 validation errors" in info.value.message
    assert "valid Unicode scalar values" in info.value.message
    info.value.message.encode("utf-8")
