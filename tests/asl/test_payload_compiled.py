"""Compiled payload templates and paths give exactly what evaluating them each time gives.

:func:`compile_payload` / :func:`compile_query` parse once (a Map's ``ItemSelector`` is
evaluated for every item); each result, and each error (its type, ``States.*`` name
and message), is compared here with :func:`evaluate_payload` / :func:`query` over the
paths and templates of the other ASL tests, the AWS-recorded conformance cases and
the ways a path can fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from tests.asl.test_jsonpath import STORE
from tests.asl.test_payload import SIMPLE_CASES

from montemap import errors
from montemap.asl import payload as payload_module
from montemap.asl.jsonpath import compile_query, query
from montemap.asl.jsonpath_syntax import PathError
from montemap.asl.payload import compile_payload, compiled_payload, evaluate_payload

CONTEXT = {
    "Execution": {"Id": "arn:x", "Input": {"k": 7, "list": [1, 2]}},
    "State": {"Name": "M"},
    "Map": {"Item": {"Index": 3, "Value": {"Key": "k3", "n": [0, {"deep": True}], "s": "x"}}},
}
VARIABLES = {"var": {"a": ["x", "y"]}, "flag": False}

PATHS = [
    "$",
    "$$",
    "$.expensive",
    "$.store.bicycle.color",
    "$['store']['bicycle']['color']",
    "$.store.book[0].author",
    "$.store.book[-1].author",
    "$.store.book[4].author",
    "$.store.book[-5]",
    "$.store.book[9]",
    "$['odd key']['a.b']",
    "$.store.book.length()",
    "$.store.bicycle.color.length()",
    "$.expensive.length()",
    "$['store']['bicycle', 'nothing']",
    "$.store.book[*].author",
    "$.store.book[0,2].author",
    "$..author",
    "$.store.book[?(@.price > $.expensive)].author",
    "$.missing",
    "$.missing.deeper",
    "$.store.bicycle.color.x",
    "$.store.book.x",
    "$.store.bicycle[0]",
    "$.expensive[0]",
    "$$.Map.Item.Value",
    "$$.Map.Item.Index",
    "$$.Map.Item.Value.n[1].deep",
    "$$.Map.Item.Value.n[2]",
    "$$.Map.Item.Value.Key.x",
    "$$.Execution.Input.list[-1]",
    "$$.Nope",
    "$var.a[0]",
    "$var.a[5]",
    "$flag",
    "$nope.a",
    "",
    "a.b",
    "$[",
    "$.a[?(@.b ==)]",
]


def outcome(run: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """What ``run(*args, **kwargs)`` gives, as comparable data: its JSON text, or its error."""
    try:
        value = run(*args, **kwargs)
    except PathError as exc:
        return "PathError", (exc.path, exc.detail, str(exc))
    except errors.EvaluationError as exc:
        return "EvaluationError", (exc.error, exc.cause, str(exc))
    return "value", json.dumps(value)


@pytest.mark.parametrize("context", [CONTEXT, None])
@pytest.mark.parametrize("variables", [VARIABLES, None])
@pytest.mark.parametrize("path", PATHS)
def test_a_compiled_path_gives_what_query_gives(
    path: str, context: Any, variables: Mapping[str, Any] | None
) -> None:
    compiled = compile_query(path)
    for data in (STORE, {"store": {"book": "text"}}, [1, 2], None, "text"):
        expected = outcome(query, path, data, context=context, variables=variables)
        assert outcome(compiled, data, context, variables) == expected


def test_the_paths_both_match_and_fail() -> None:
    """The comparisons above cover values and each kind of failure."""
    kinds = [outcome(query, p, STORE, context=CONTEXT, variables=VARIABLES) for p in PATHS]
    assert sum(kind == "value" for kind, _ in kinds) >= 20
    details = [detail[1] for kind, detail in kinds if kind == "PathError"]
    for start in ("No results", "Missing property", "Expected to find", "The variable", "length"):
        assert any(d.startswith(start) for d in details), start
    assert len(details) >= 10


TEMPLATES: list[Any] = [
    {"row.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "tag.$": "$.expensive"},
    {"a": 1, "b": [1, {"c": None}], "d": {"e": "$.not_a_path"}},
    {"who.$": "$.store.bicycle.color", "all.$": "$", "some.$": "$.store.book[1:].author"},
    {"deep": {"v.$": "$$.Map.Item.Value.n[1].deep", "list": [{"n.$": "$var.a[1]"}, "plain"]}},
    {"msg.$": "States.Format('Hi {}', $.store.bicycle.color)", "n.$": "States.ArrayLength($.x)"},
    {"bad.$": 5},
    {"bad.$": ["$.a"]},
    {"missing.$": "$.nope"},
    {"first": 1, "missing.$": "$$.Map.Item.Value.nope", "after.$": "$.also.missing"},
    {"a": 1, "a.$": "$.expensive", "b.$": "$.expensive", "b": 2},
    {".$": "$.expensive", "x.$.$": "$.expensive"},
    {"invalid.$": "$["},
    {"var.$": "$nope"},
    {"ctx.$": "$$"},
    [1, {"x.$": "$.expensive"}, [{"y.$": "$$.State.Name"}]],
    "plain string",
    42,
    None,
    {},
    [],
]


@pytest.mark.parametrize("context", [CONTEXT, None])
@pytest.mark.parametrize("template", TEMPLATES)
def test_a_compiled_template_gives_what_evaluate_payload_gives(template: Any, context: Any) -> None:
    compiled = compile_payload(template)
    for data in (STORE, {"x": [1, 2, 3]}, {}, None):
        for variables in (VARIABLES, None):
            expected = outcome(
                evaluate_payload, template, data, context=context, variables=variables
            )
            assert outcome(compiled, data, context, variables) == expected


def test_each_evaluation_builds_new_objects() -> None:
    template = {"a": {"b": [1, 2]}, "c.$": "$.x"}
    compiled = compile_payload(template)
    first, second = compiled({"x": 1}, None, None), compiled({"x": 1}, None, None)
    assert first == second == {"a": {"b": [1, 2]}, "c": 1}
    first["a"]["b"].append(3)
    assert second["a"]["b"] == [1, 2]
    assert template["a"] == {"b": [1, 2]}


@pytest.mark.conformance
@pytest.mark.parametrize("case", SIMPLE_CASES, ids=[c["id"] for c in SIMPLE_CASES])
def test_conformance_parameters_compiled(case: dict[str, Any]) -> None:
    template = case["_state"]["Parameters"]
    raw_input = json.loads(case["input"])
    context = {"Execution": {"Input": raw_input}, "State": {"Name": "S"}}
    expected = outcome(evaluate_payload, template, raw_input, context=context)
    assert outcome(compiled_payload(template), raw_input, context, None) == expected


def test_compiled_templates_are_kept_by_identity_and_bounded() -> None:
    template = {"x.$": "$.a"}
    assert compiled_payload(template) is compiled_payload(template)
    equal = {"x.$": "$.a"}
    assert compiled_payload(equal) is not compiled_payload(template)
    others = [{"n": n} for n in range(payload_module.COMPILED_TEMPLATES + 10)]
    for other in others:
        assert compiled_payload(other)(None, None, None) == other
    assert len(payload_module._compiled) <= payload_module.COMPILED_TEMPLATES
