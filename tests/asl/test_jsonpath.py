"""JSONPath queries (Jayway semantics), path validation, ResultPath and JSON text."""

from __future__ import annotations

from typing import Any

import pytest

from montemap import errors
from montemap.asl.json_text import to_json_text
from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_parser import is_definite_path, is_reference_path, validate_path
from montemap.asl.jsonpath_syntax import PathError
from montemap.asl.result_path import set_result

STORE: dict[str, Any] = {
    "store": {
        "book": [
            {"category": "reference", "author": "Rees", "title": "Sayings", "price": 8.95},
            {"category": "fiction", "author": "Waugh", "title": "Sword", "price": 12.99},
            {"category": "fiction", "author": "Melville", "isbn": "0-553", "price": 8.99},
            {"category": "fiction", "author": "Tolkien", "isbn": "0-395", "price": 22.99},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    },
    "expensive": 10,
    "odd key": {"a.b": 1, "it's": 2},
}


# --------------------------------------------------------------------------- definite paths


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", STORE),
        ("$.expensive", 10),
        ("$.store.bicycle.color", "red"),
        ("$['store']['bicycle']['color']", "red"),
        ('$["store"].bicycle["price"]', 19.95),
        ("$.store.book[0].author", "Rees"),
        ("$.store.book[-1].author", "Tolkien"),
        ("$['odd key']['a.b']", 1),
        ("$['odd key']['it\\'s']", 2),
        ("$.store.book.length()", 4),
        ("$['store']['bicycle', 'nothing']", {"bicycle": {"color": "red", "price": 19.95}}),
    ],
)
def test_definite_paths_return_the_value(path: str, expected: Any) -> None:
    assert is_definite_path(path)
    assert query(path, STORE) == expected


def test_dash_and_odd_characters_in_dot_names() -> None:
    assert query("$.delivery-partner", {"delivery-partner": "x"}) == "x"
    assert query("$.sub-values[0]", {"sub-values": [5]}) == 5


def test_backslash_in_quoted_name_is_literal() -> None:
    # Recorded on AWS: $['Test\""Name"'] reads the key Test\""Name".
    key = 'Test\\""Name"'
    assert query('$[\'Test\\""Name"\']', {key: "v"}) == "v"


def test_index_out_of_bounds_reads_null_as_jackson_does() -> None:
    assert query("$.a[3]", {"a": [1]}) is None
    assert query("$.a[-3]", {"a": [1]}) is None
    assert query("$.a[0,5]", {"a": [1]}) == [1, None]
    with pytest.raises(PathError):
        query("$.a[3].b", {"a": [1]})


def test_ints_stay_ints() -> None:
    value = query("$.n", {"n": 1})
    assert value == 1 and isinstance(value, int)


# --------------------------------------------------------------------------- indefinite paths


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.store.book[*].author", ["Rees", "Waugh", "Melville", "Tolkien"]),
        ("$.store.book[1:3].author", ["Waugh", "Melville"]),
        ("$.store.book[:1].author", ["Rees"]),
        ("$.store.book[-1:].author", ["Tolkien"]),
        ("$.store.book[::2].author", ["Rees", "Melville"]),
        ("$.store.book[0,2].author", ["Rees", "Melville"]),
        ("$.store.book[0,9].author", ["Rees"]),
        ("$.store.book[*].isbn", ["0-553", "0-395"]),
        ("$.store.bicycle.*", ["red", 19.95]),
        ("$..author", ["Rees", "Waugh", "Melville", "Tolkien"]),
        ("$..bicycle.color", ["red"]),
        ("$.store..price", [8.95, 12.99, 8.99, 22.99, 19.95]),
        ("$..book[2].author", ["Melville"]),
        ("$.store.book[?(@.isbn)].author", ["Melville", "Tolkien"]),
        ("$.store.book[?(!(@.isbn))].author", ["Rees", "Waugh"]),
        ("$.store.book[?(@.price < 10)].author", ["Rees", "Melville"]),
        ("$.store.book[?(@.price <= 8.99)].author", ["Rees", "Melville"]),
        ("$.store.book[?(@.price > $.expensive)].author", ["Waugh", "Tolkien"]),
        ("$.store.book[?(@.price >= 22.99)].author", ["Tolkien"]),
        ("$.store.book[?(@.category == 'fiction' && @.price < 20)].author", ["Waugh", "Melville"]),
        ("$.store.book[?(@.category != 'fiction' || @.price > 20)].author", ["Rees", "Tolkien"]),
        ("$.store.book[?(@.author =~ /t.*/i)].author", ["Tolkien"]),
        ("$.store.book[?(@.author in ['Rees', 'Waugh'])].price", [8.95, 12.99]),
        ("$.store.book[?(@.author nin ['Rees', 'Waugh'])].price", [8.99, 22.99]),
        ("$.store.book[?(@.title size 5)].author", ["Waugh"]),
        ("$.store.book[?(@.author contains 'lk')].author", ["Tolkien"]),
        ("$.missing[*]", []),
        ("$.store.bicycle[*].x", []),
    ],
)
def test_indefinite_paths_return_lists(path: str, expected: list[Any]) -> None:
    assert not is_definite_path(path)
    assert query(path, STORE) == expected


def test_filter_equality_is_typed() -> None:
    data = {"users": [{"status": 0}, {"status": 1}, {"status": False}, {"status": "0"}]}
    assert query("$.users[?(@.status == 0)]", data) == [{"status": 0}, {"status": "0"}]
    assert query("$.users[?(@.status == false)]", data) == [{"status": False}]
    assert query("$.users[?(@.status == null)]", data) == []


def test_filter_on_nested_arrays_and_empty() -> None:
    data = {"a": [{"tags": []}, {"tags": ["x"]}, {"tags": ["x", "y"]}]}
    assert query("$.a[?(@.tags empty true)]", data) == [{"tags": []}]
    assert query("$.a[?(@.tags subsetof ['x', 'y'])]", data) == data["a"]
    assert query("$.a[?(@.tags anyof ['y'])]", data) == [{"tags": ["x", "y"]}]
    assert query("$.a[?(@.tags noneof ['y'])]", data) == [{"tags": []}, {"tags": ["x"]}]


def test_missing_slice_on_empty_input_is_empty_list() -> None:
    # Recorded on AWS: "$.item.items[1:5]" on {} gives [].
    assert query("$.item.items[1:5]", {}) == []
    assert query("$.item.items[1:5].itemValue", {}) == []


def test_deep_wildcard_is_preorder() -> None:
    assert query("$..*", {"a": {"b": 1}, "c": [2]}) == [{"b": 1}, 1, [2], 2]


# --------------------------------------------------------------------------- roots


def test_context_and_variable_roots() -> None:
    context = {"Execution": {"Input": {"x": 1}}}
    assert query("$$.Execution.Input.x", {}, context=context) == 1
    assert query("$$", {}, context=context) == context
    variables = {"answer": {"v": [4, 5]}, "n": 3}
    assert query("$answer.v[1]", {}, variables=variables) == 5
    assert query("$n", {}, variables=variables) == 3


def test_undefined_variable_raises() -> None:
    with pytest.raises(PathError) as info:
        query("$nope", {}, variables={})
    assert "$nope" in info.value.detail


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("path", "data", "detail"),
    [
        ("$.a", {}, "No results for path: $['a']"),
        ("$.a.b", {}, "Missing property in path $['a']"),
        ("$.a.b", {"a": {}}, "No results for path: $['a']['b']"),
        ("$.a.b", {"a": "text"}, "Expected to find an object with property ['b'] in path $['a']"),
    ],
)
def test_definite_path_without_match_raises(path: str, data: Any, detail: str) -> None:
    with pytest.raises(PathError) as info:
        query(path, data)
    assert info.value.path == path
    assert info.value.detail.startswith(detail)
    assert str(info.value).startswith(f"Invalid path '{path}' : ")


@pytest.mark.parametrize(
    "path",
    ["", "a.b", "$.", "$[", "$['a'", "$[1:2:0]", "$[x]", "$.a.foo()", "$.a[?(@.b ==)]", "$ .a"],
)
def test_invalid_paths(path: str) -> None:
    assert validate_path(path) is not None
    with pytest.raises(PathError):
        query(path, {})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.store.book[?(@.price < 9.)].author", ["Rees", "Melville"]),
        ("$.store.book[?(@.price > .9e1)].author", ["Waugh", "Tolkien"]),
        ("$.store.book[?(@.price > -.5)].author", ["Rees", "Waugh", "Melville", "Tolkien"]),
        ("$.store.book[?(@.price == 22.99)].author", ["Tolkien"]),
    ],
)
def test_filter_numbers_as_java_reads_them(path: str, expected: list[str]) -> None:
    # Jayway reads a filter's number with Java's BigDecimal, which takes ".85" and "5.".
    assert validate_path(path) is None
    assert query(path, STORE) == expected


def test_a_leaf_multi_property_merges_each_match() -> None:
    # Jayway merges ['a','b'] at a path's end into one object per node it applies to.
    books = "$.store.book[*]['author','isbn']"
    assert query(books, STORE) == [
        {"author": "Rees"},
        {"author": "Waugh"},
        {"author": "Melville", "isbn": "0-553"},
        {"author": "Tolkien", "isbn": "0-395"},
    ]
    assert query("$.store.book[?(@.isbn)]['isbn']", STORE) == ["0-553", "0-395"]
    assert query("$['expensive','odd key']", STORE) == {
        "expensive": 10,
        "odd key": STORE["odd key"],
    }


def test_trailing_spaces_end_a_path() -> None:
    # Jayway's path compiler (AWS's) trims them: a definition with "$$.Execution.Name "
    # runs on AWS; a space inside a path is still an error.
    assert validate_path("$.store.bicycle.color  ") is None
    assert query("$.store.bicycle.color ", STORE) == "red"
    assert query("$..author ", STORE) == ["Rees", "Waugh", "Melville", "Tolkien"]
    assert is_reference_path("$.expensive ")
    assert validate_path("$.store .bicycle") is not None
    assert validate_path("$. ") is not None


def test_deeply_nested_filter_is_rejected_not_crashing() -> None:
    path = "$[?(" + "!(" * 5000 + "@.a" + ")" * 5000 + ")]"
    assert "nested too deeply" in (validate_path(path) or "")


def test_valid_paths_validate() -> None:
    for path in ("$", "$$", "$.a[0]", "$var.x", "$..a", "$.a[?(@.b == 'c')]", "$.a.length()"):
        assert validate_path(path) is None, path


def test_reference_paths() -> None:
    assert is_reference_path("$.a.b[0]['c']")
    assert is_reference_path("$")
    for path in ("$.a[*]", "$..a", "$.a[1:2]", "$.a[0,1]", "$['a','b']", "$.a.length()", "x"):
        assert not is_reference_path(path), path


# --------------------------------------------------------------------------- ResultPath


def test_result_path_variants() -> None:
    data = {"a": {"b": 1}, "list": [{"x": 1}]}
    assert set_result(data, None, "r") is data
    assert set_result(data, "$", "r") == "r"
    assert set_result(data, "$.a.c", 2) == {"a": {"b": 1, "c": 2}, "list": [{"x": 1}]}
    assert set_result(data, "$.new.deep", 3)["new"] == {"deep": 3}
    assert set_result(data, "$.list[0].y", 4)["list"] == [{"x": 1, "y": 4}]
    assert data == {"a": {"b": 1}, "list": [{"x": 1}]}, "the input must not change"


def test_result_path_replaces_existing_value() -> None:
    assert set_result({"a": "old"}, "$.a", {"n": 1}) == {"a": {"n": 1}}


@pytest.mark.parametrize(
    ("data", "path"),
    [("text", "$.a"), ({"a": 5}, "$.a.b"), ([1], "$.a"), ({"l": [1]}, "$.l[5]")],
)
def test_result_path_match_failure(data: Any, path: str) -> None:
    with pytest.raises(errors.EvaluationError) as info:
        set_result(data, path, 1)
    assert info.value.error == errors.RESULT_PATH_MATCH_FAILURE
    assert info.value.cause == f"Unable to apply ReferencePath {path} to input {to_json_text(data)}"


def test_result_path_must_be_a_reference_path() -> None:
    with pytest.raises(PathError):
        set_result({}, "$.a[*]", 1)
    with pytest.raises(PathError):
        set_result({}, "$$.a", 1)


# --------------------------------------------------------------------------- JSON text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": [1, 2.5, None, True, "x"]}, '{"a":[1,2.5,null,true,"x"]}'),
        (1.0, "1.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (-2.5e-10, "-2.5E-10"),
        (-0.0, "-0.0"),
        ('é\n"', '"é\\n\\""'),
        (10**20, "100000000000000000000"),
        ("\x01\x1f\\/", '"\\u0001\\u001F\\\\/"'),
    ],
)
def test_to_json_text_matches_jackson(value: Any, text: str) -> None:
    assert to_json_text(value) == text


def test_to_json_text_rejects_non_json() -> None:
    with pytest.raises(TypeError):
        to_json_text({"a": object()})


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("$.[0]", [{"x": 1}, {"y": 2}], {"x": 1}),
        ("$.[?(@.x)].x", [{"x": 1}, {"y": 2}], [1]),
        ("$.a.[1]", {"a": [5, 6]}, 6),
        ("$.['a']", {"a": 3}, 3),
    ],
)
def test_a_bracket_after_a_dot_reads_as_the_bracket(path: str, value: Any, expected: Any) -> None:
    # AWS's JSONPath library reads `.[` as the bracket that follows (production
    # definitions use `$.[?(@.x)].x` in ResultSelector).
    assert query(path, value) == expected
