"""Validation of one state: its fields by Type and query language, its transitions."""

from __future__ import annotations

import re
from typing import Any

from montemap.asl.validate_base import (
    INVALID_RESOURCE,
    JSONATA,
    JSONPATH,
    NO_PATH,
    PASS_RESULT_IS_STATIC,
    QUERY_LANGUAGES,
    TIMESTAMP_FORM,
    Context,
    check_language_fields,
    exclusive,
    expect_enum,
    expect_int,
    expect_object,
    expect_string,
    is_int,
    is_timestamp,
    pointer,
    shown,
    type_name,
)
from montemap.asl.validate_choice import check_choice
from montemap.asl.validate_map import check_map
from montemap.asl.validate_payload import (
    check_assign,
    check_expressions,
    check_path,
    check_template,
    is_dynamic,
    looks_dynamic,
)
from montemap.asl.validate_retry import check_catch, check_retry

_FLOW = ("Next", "End")
_IO = ("InputPath", "OutputPath")
_RESULT = ("Parameters", "ResultPath", "ResultSelector")

#: Type -> (fields of both languages, JSONPath-only fields, JSONata-only fields).
STATE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "Pass": ((*_FLOW, "Assign"), (*_IO, "Parameters", "ResultPath", "Result"), ("Output",)),
    "Task": (
        (
            *_FLOW,
            "Assign",
            "Resource",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "HeartbeatSeconds",
            "Credentials",
        ),
        (*_IO, *_RESULT, "TimeoutSecondsPath", "HeartbeatSecondsPath"),
        ("Arguments", "Output"),
    ),
    "Choice": (("Choices", "Default", "Assign"), _IO, ("Output",)),
    "Wait": (
        (*_FLOW, "Assign", "Seconds", "Timestamp"),
        (*_IO, "SecondsPath", "TimestampPath"),
        ("Output",),
    ),
    "Succeed": ((), _IO, ("Output",)),
    "Fail": (("Error", "Cause"), ("ErrorPath", "CausePath"), ()),
    "Parallel": (
        (*_FLOW, "Assign", "Branches", "Retry", "Catch"),
        (*_IO, *_RESULT),
        ("Arguments", "Output"),
    ),
    "Map": (
        (
            *_FLOW,
            "Assign",
            "ItemProcessor",
            "Iterator",
            "ItemSelector",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "MaxConcurrency",
            "ToleratedFailureCount",
            "ToleratedFailurePercentage",
            "Label",
            "Retry",
            "Catch",
        ),
        (
            *_IO,
            *_RESULT,
            "ItemsPath",
            "MaxConcurrencyPath",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentagePath",
        ),
        ("Items", "Arguments", "Output"),
    ),
}
_REQUIRED = {"Task": ("Resource",), "Choice": ("Choices",), "Parallel": ("Branches",)}
_COMMON = ("Type", "Comment", "QueryLanguage")
#: States that end an execution (or branch) and have neither Next nor End.
TERMINAL_TYPES = frozenset({"Succeed", "Fail"})
#: Fields holding nested state machines or checked by their own module.
_NOT_EXPRESSIONS = frozenset({"Branches", "ItemProcessor", "Iterator", "Choices", "Catch"})
_ARN_RE = re.compile(r"^arn:[^:\s]+:[^:\s]+:[^:\s]*:[^:\s]*:\S+$")


def resolve_language(value: Any, inherited: str) -> str:
    """The query language a ``QueryLanguage`` field selects: AWS reads exactly
    "JSONPath" as JSONPath and any other value present as JSONata."""
    if value is None:
        return inherited
    return JSONPATH if value == JSONPATH else JSONATA


def state_language(ctx: Context, state: dict[str, Any], loc: str) -> tuple[str, bool]:
    """A state's query language (its own or the state machine's), and whether the
    state was reported for going back to JSONPath in a JSONata state machine."""
    value = state.get("QueryLanguage")
    language = resolve_language(value, ctx.top_language)
    downgrade = ctx.top_language == JSONATA and value == JSONPATH
    if downgrade:
        ctx.error(
            loc, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine"
        )
    return language, downgrade


def is_terminal(state: Any) -> bool:
    """Whether a state ends its state machine (``End: true``, Succeed, Fail)."""
    return isinstance(state, dict) and (
        (isinstance(state.get("Type"), str) and state["Type"] in TERMINAL_TYPES)
        or state.get("End") is True
    )


def check_state(ctx: Context, state: Any, loc: str, targets: list[tuple[str, str]]) -> None:
    """Every rule of one state; transition targets are appended to ``targets``
    as ``(name, pointer)`` for the state machine to resolve."""
    if not expect_object(ctx, state, loc, "A state"):
        return
    kind = state.get("Type")
    if kind is None:
        ctx.error(loc, "These fields are required: [Type]")
        return
    if not isinstance(kind, str) or kind not in STATE_FIELDS:
        ctx.error(
            pointer(loc, "Type"),
            f"The value for the field 'Type' must be one of "
            f"{', '.join(STATE_FIELDS)}, not {shown(kind)}",
        )
        return
    language, downgrade = state_language(ctx, state, loc)
    both, jsonpath, jsonata = STATE_FIELDS[kind]
    check_language_fields(
        ctx,
        state,
        loc,
        language,
        (*_COMMON, *both),
        jsonpath,
        jsonata,
        _REQUIRED.get(kind, ()),
        mixing_reported=downgrade,
    )
    if "QueryLanguage" in state:
        expect_enum(
            ctx,
            state["QueryLanguage"],
            pointer(loc, "QueryLanguage"),
            "QueryLanguage",
            QUERY_LANGUAGES,
        )
    if "Comment" in state:
        expect_string(ctx, state["Comment"], pointer(loc, "Comment"), "Comment")
    if "Next" in both:
        _check_flow(ctx, state, loc, kind, targets)
    _check_common(ctx, state, loc, language)
    if kind == "Pass":
        _check_pass(ctx, state, loc, language)
    elif kind == "Task":
        _check_task(ctx, state, loc, language)
    elif kind == "Choice":
        check_choice(ctx, state, loc, language, targets)
    elif kind == "Wait":
        _check_wait(ctx, state, loc, language)
    elif kind == "Fail":
        _check_fail(ctx, state, loc, language)
    elif kind == "Parallel":
        _check_parallel(ctx, state, loc)
    elif kind == "Map":
        check_map(ctx, state, loc, language)
    if "Retry" in state:
        check_retry(ctx, state, pointer(loc, "Retry"))
    if "Catch" in state:
        check_catch(ctx, state, pointer(loc, "Catch"), language, targets)


def _check_flow(
    ctx: Context, state: dict[str, Any], loc: str, kind: str, targets: list[tuple[str, str]]
) -> None:
    present = exclusive(ctx, state, loc, "Next", "End")
    if not present:
        ctx.error(loc, f"A {kind} state must have either 'Next' or 'End': true")
    if "End" in state and state["End"] is not True:
        ctx.error(
            pointer(loc, "End"),
            f"The value for the field 'End' must be true, not {shown(state['End'])}",
        )
    if "Next" in state and expect_string(
        ctx, state["Next"], pointer(loc, "Next"), "Next", empty=False
    ):
        targets.append((state["Next"], pointer(loc, "Next")))


def _check_common(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    """Fields shared by several types: I/O paths, templates, Assign, JSONata strings."""
    if "Assign" in state:
        check_assign(ctx, state["Assign"], pointer(loc, "Assign"), language)
    if language == JSONATA:
        for key, value in state.items():
            if key not in _NOT_EXPRESSIONS:
                check_expressions(ctx, value, pointer(loc, key))
        if "Arguments" in state and not is_dynamic(state["Arguments"], language):
            expect_object(ctx, state["Arguments"], pointer(loc, "Arguments"), "'Arguments'")
        return
    for name in _IO:
        if name in state:
            check_path(ctx, state[name], pointer(loc, name), name, nullable=True)
    if "ResultPath" in state:
        check_path(
            ctx,
            state["ResultPath"],
            pointer(loc, "ResultPath"),
            "ResultPath",
            nullable=True,
            result=True,
        )
    for name in ("Parameters", "ResultSelector"):
        if name in state and expect_object(ctx, state[name], pointer(loc, name), f"'{name}'"):
            check_template(ctx, state[name], pointer(loc, name))


def _check_pass(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    if language == JSONPATH and "Result" in state and _has_dollar_key(state["Result"]):
        ctx.warning(
            pointer(loc, "Result"),
            "The 'Result' of a Pass state is static: keys ending in '.$' are not evaluated",
            PASS_RESULT_IS_STATIC,
        )


def _has_dollar_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k.endswith(".$") or _has_dollar_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_dollar_key(v) for v in value)
    return False


#: AWS's bound on the seconds of a Wait state and a Task's TimeoutSeconds and
#: HeartbeatSeconds: integers up to 99999999 (a larger number, 1e30 say, is refused
#: here rather than overflowing a date when the state runs).
MAX_SECONDS = 99_999_999


def seconds_field(
    ctx: Context, state: dict[str, Any], loc: str, language: str, name: str, minimum: int
) -> None:
    """``name`` (an integer or, in JSONata, an expression) or ``namePath`` (a path)."""
    exclusive(ctx, state, loc, name, f"{name}Path")
    if name in state and not is_dynamic(state[name], language):
        expect_int(ctx, state[name], pointer(loc, name), name, minimum=minimum, maximum=MAX_SECONDS)
    if f"{name}Path" in state and language == JSONPATH:
        check_path(
            ctx, state[f"{name}Path"], pointer(loc, f"{name}Path"), f"{name}Path", reference=True
        )


def _check_task(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    resource = state.get("Resource")
    if (
        "Resource" in state
        and expect_string(ctx, resource, pointer(loc, "Resource"), "Resource", empty=False)
        and not _ARN_RE.match(str(resource))
    ):
        ctx.error(
            pointer(loc, "Resource"),
            f"The resource provided {resource} is not "
            "recognized. The value is not a valid resource ARN",
            INVALID_RESOURCE,
        )
    seconds_field(ctx, state, loc, language, "TimeoutSeconds", 1)
    seconds_field(ctx, state, loc, language, "HeartbeatSeconds", 1)
    timeout: Any = state.get("TimeoutSeconds")
    heartbeat: Any = state.get("HeartbeatSeconds")
    if is_int(timeout) and is_int(heartbeat) and heartbeat >= timeout:
        ctx.error(
            pointer(loc, "HeartbeatSeconds"),
            "The value for the field 'HeartbeatSeconds' must be smaller than the value "
            "for the field 'TimeoutSeconds'",
        )
    if "Credentials" in state:
        _check_credentials(ctx, state["Credentials"], pointer(loc, "Credentials"), language)


def _check_credentials(ctx: Context, value: Any, loc: str, language: str) -> None:
    if not expect_object(ctx, value, loc, "'Credentials'"):
        return
    names = ("RoleArn", "RoleArn.$") if language == JSONPATH else ("RoleArn",)
    check_language_fields(ctx, value, loc, language, names)
    if not exclusive(ctx, value, loc, *names):
        ctx.error(loc, "These fields are required: [RoleArn]")
    if "RoleArn.$" in value:
        check_path(ctx, value["RoleArn.$"], pointer(loc, "RoleArn.$"), "RoleArn.$", intrinsic=True)
    if "RoleArn" in value:
        expect_string(ctx, value["RoleArn"], pointer(loc, "RoleArn"), "RoleArn", empty=False)


def _check_wait(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    names = ("Seconds", "Timestamp", "SecondsPath", "TimestampPath")
    if not exclusive(ctx, state, loc, *names):
        ctx.error(
            loc,
            "A Wait state must have exactly one of 'Seconds', 'Timestamp', "
            "'SecondsPath' or 'TimestampPath'",
        )
    if "Seconds" in state and not is_dynamic(state["Seconds"], language):
        expect_int(ctx, state["Seconds"], pointer(loc, "Seconds"), "Seconds", maximum=MAX_SECONDS)
    stamp = state.get("Timestamp")
    if "Timestamp" in state and not is_dynamic(stamp, language) and not is_timestamp(stamp):
        ctx.error(
            pointer(loc, "Timestamp"),
            f"The value for the field 'Timestamp' must be {TIMESTAMP_FORM}, not {shown(stamp)}",
        )
    for name in ("SecondsPath", "TimestampPath"):
        if name in state and language == JSONPATH:
            check_path(ctx, state[name], pointer(loc, name), name, reference=True)


def _check_fail(ctx: Context, state: dict[str, Any], loc: str, language: str) -> None:
    for name in ("Error", "Cause"):
        exclusive(ctx, state, loc, name, f"{name}Path")
        if (
            name in state
            and expect_string(ctx, state[name], pointer(loc, name), name)
            and language == JSONPATH
            and looks_dynamic(state[name])
        ):
            ctx.warning(
                pointer(loc, name),
                f"The value of the field '{name}' looks like a path; did you mean '{name}Path'?",
                NO_PATH,
            )
        if f"{name}Path" in state and language == JSONPATH:
            check_path(
                ctx,
                state[f"{name}Path"],
                pointer(loc, f"{name}Path"),
                f"{name}Path",
                intrinsic=True,
            )


def _check_parallel(ctx: Context, state: dict[str, Any], loc: str) -> None:
    branches = state.get("Branches")
    here = pointer(loc, "Branches")
    if "Branches" not in state:
        return
    if not isinstance(branches, list) or not branches:
        ctx.error(
            here,
            "The field 'Branches' must be a non-empty array of state machines, not "
            f"{type_name(branches)}",
        )
        return
    for index, branch in enumerate(branches):
        ctx.validate_machine(ctx, branch, pointer(here, index), "branch")
