"""Loading and validating Amazon States Language definitions.

``load_definition`` reads JSON (or YAML), ``validate_definition`` returns every
problem as a :class:`~montemap.errors.Diagnostic` the way AWS's
``ValidateStateMachineDefinition`` reports them (code, message, severity and a
JSON pointer such as ``/States/Foo/Next``), and ``check_definition`` does both
and raises :class:`~montemap.errors.DefinitionError` on any ERROR, which the
API turns into ``InvalidDefinition`` with :func:`format_invalid_definition`.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from montemap.asl.validate_base import (
    ERROR,
    INVALID_JSON_DESCRIPTION,
    JSONPATH,
    SCHEMA_VALIDATION_FAILED,
    TOO_DEEPLY_NESTED,
    Context,
    JsonObject,
)
from montemap.asl.validate_machine import check_machine
from montemap.asl.validate_states import resolve_language
from montemap.errors import DefinitionError, Diagnostic

__all__ = [
    "check_definition",
    "format_invalid_definition",
    "load_definition",
    "validate_definition",
    "validation_result",
]

_NOT_AN_OBJECT = "Definition must be a valid JSON object"


class _NonStandardJson(ValueError):
    """A JSON token Python accepts but JSON does not (NaN, Infinity)."""


def _json_object(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj = JsonObject()
    duplicates = []
    for key, value in pairs:
        if key in obj:
            duplicates.append(key)
        obj[key] = value
    obj.duplicate_keys = tuple(duplicates)
    return obj


def _reject_constant(name: str) -> Any:
    raise _NonStandardJson(f"Non-standard JSON token '{name}' is not allowed")


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that yields JSON values only: timestamps stay strings,
    mappings have string keys and remember repeated keys."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> JsonObject:
    loader.flatten_mapping(node)
    pairs = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"found a non-string key {key!r}", key_node.start_mark
            )
        pairs.append((key, loader.construct_object(value_node, deep=True)))
    return _json_object(pairs)


_YamlLoader.add_constructor("tag:yaml.org,2002:map", _yaml_mapping)


def _parse_error(message: str) -> DefinitionError:
    return DefinitionError([Diagnostic(INVALID_JSON_DESCRIPTION, message, "", ERROR)])


def _non_json_value(value: Any) -> str | None:
    """A description of the first value YAML produced that JSON cannot hold."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if value == value and abs(value) != float("inf") else repr(value)
    if isinstance(value, list):
        return next((p for p in map(_non_json_value, value) if p), None)
    if isinstance(value, dict):
        return next((p for p in map(_non_json_value, value.values()) if p), None)
    return f"a value of YAML type {type(value).__name__}"


#: Values a YAML definition may expand to through its aliases, besides one per character of
#: its text (more than any JSON text of that length holds). Aliases let a few hundred bytes
#: name 10**8 values ("billion laughs"), and everything after parsing walks them expanded.
_YAML_EXPANSION_ALLOWANCE = 100_000


def _expanded_size(root: yaml.Node, limit: int) -> int | None:
    """How many values ``root`` holds with its aliases expanded, capped at ``limit + 1``;
    ``None`` when an alias refers to a node that contains it (a recursive structure)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if finished:
            open_nodes.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(child)] for child in children))
        elif key in open_nodes:
            return None
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _compose_bounded(text: str) -> Any:
    """``yaml.load`` with the loader above, refusing alias amplification before constructing."""
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        limit = _YAML_EXPANSION_ALLOWANCE + len(text)
        size = _expanded_size(node, limit)
        if size is None:
            raise _parse_error("Invalid definition: a YAML alias refers to a value containing it")
        if size > limit:
            raise _parse_error(
                f"Invalid definition: its YAML aliases expand it to more than {limit} values "
                "(alias amplification); write the repeated parts out or use fewer aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _load_yaml(text: str, json_error: json.JSONDecodeError) -> Any:
    try:
        value = _compose_bounded(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise _parse_error(f"Invalid JSON or YAML: {exc.problem}{where}") from None
    except yaml.YAMLError as exc:
        raise _parse_error(f"Invalid JSON or YAML: {exc}") from None
    if not isinstance(value, dict):
        # Not a YAML mapping either: the JSON error says best what is wrong.
        raise _parse_error(
            f"{json_error.msg} at line {json_error.lineno} column {json_error.colno}"
        )
    try:
        problem = _non_json_value(value)
    except RecursionError:
        problem = "a value nested too deeply"
    if problem:
        raise _parse_error(f"Invalid definition: {problem} is not a JSON value")
    return value


def load_definition(text: str) -> dict[str, Any]:
    """Parse a definition written in JSON or YAML into a JSON object.

    Raises :class:`DefinitionError` with one ``INVALID_JSON_DESCRIPTION``
    diagnostic (saying where: line and column) when the text does not parse,
    or a ``SCHEMA_VALIDATION_FAILED`` one when it is not an object.
    """
    if not isinstance(text, str) or not text.strip():
        raise DefinitionError([Diagnostic(SCHEMA_VALIDATION_FAILED, _NOT_AN_OBJECT, "", ERROR)])
    try:
        value = json.loads(text, object_pairs_hook=_json_object, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith(("{", "[")):
            raise _parse_error(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
        value = _load_yaml(text, exc)
    except _NonStandardJson as exc:
        raise _parse_error(str(exc)) from None
    except RecursionError:
        raise _parse_error("The definition is nested too deeply to parse") from None
    if not isinstance(value, dict):
        raise DefinitionError([Diagnostic(SCHEMA_VALIDATION_FAILED, _NOT_AN_OBJECT, "", ERROR)])
    return value


def validate_definition(definition: Any) -> list[Diagnostic]:
    """Every problem in a parsed definition, errors and warnings, in document order."""
    if not isinstance(definition, dict):
        return [Diagnostic(SCHEMA_VALIDATION_FAILED, _NOT_AN_OBJECT, "", ERROR)]
    ctx = Context(
        top_language=resolve_language(definition.get("QueryLanguage"), JSONPATH),
        validate_machine=check_machine,
    )
    try:
        check_machine(ctx, definition, "/", "top")
    except RecursionError:
        ctx.error("", "The definition is nested too deeply to validate", TOO_DEEPLY_NESTED)
    return ctx.diagnostics


def validation_result(diagnostics: list[Diagnostic]) -> str:
    """``OK`` or ``FAIL``, as ValidateStateMachineDefinition's ``result``."""
    return "FAIL" if any(d.severity == ERROR for d in diagnostics) else "OK"


def check_definition(text: str) -> dict[str, Any]:
    """Load and validate; raise :class:`DefinitionError` with every ERROR diagnostic."""
    definition = load_definition(text)
    errors = [d for d in validate_definition(definition) if d.severity == ERROR]
    if errors:
        raise DefinitionError(errors)
    return definition


def format_invalid_definition(diags: list[Diagnostic]) -> str:
    """The message of CreateStateMachine's ``InvalidDefinition`` error, in AWS's
    words: ``Invalid State Machine Definition: 'CODE: message at /location, ...'``."""
    errors = [d for d in diags if d.severity == ERROR] or list(diags)
    parts = [f"{d.code}: {d.message} at {d.location or 'null'}" for d in errors]
    return f"Invalid State Machine Definition: '{', '.join(parts)}'"
