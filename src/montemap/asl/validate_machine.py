"""Validation of a state machine (the top level, a Parallel branch, a Map processor):
StartAt, States, state names, transitions, reachability and terminal states."""

from __future__ import annotations

from collections import deque
from typing import Any

from montemap.asl.validate_base import (
    DUPLICATE_STATE_NAME,
    INVALID_STATE_NAME,
    MISSING_END_STATE,
    MISSING_TRANSITION_TARGET,
    QUERY_LANGUAGES,
    TOO_DEEPLY_NESTED,
    Context,
    check_fields,
    expect_enum,
    expect_int,
    expect_object,
    expect_string,
    pointer,
    shown,
)
from montemap.asl.validate_map import check_processor_config
from montemap.asl.validate_states import MAX_SECONDS, check_state, is_terminal

#: The longest state name Step Functions accepts.
MAX_STATE_NAME = 80
#: How deeply Parallel and Map states may nest state machines.
MAX_DEPTH = 32

_FIELDS = {
    "top": ("Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"),
    "branch": ("Comment", "StartAt", "States"),
    "processor": ("Comment", "StartAt", "States", "ProcessorConfig"),
}


def check_machine(ctx: Context, machine: Any, loc: str, kind: str) -> None:
    """Every rule of one state machine and, through its states, of those nested in it."""
    if ctx.depth >= MAX_DEPTH:
        ctx.error(
            loc,
            f"The states are too deeply nested (more than {MAX_DEPTH} levels)",
            TOO_DEEPLY_NESTED,
        )
        return
    what = "The definition" if kind == "top" else "A nested state machine"
    if not expect_object(ctx, machine, loc, what):
        return
    check_fields(ctx, machine, loc, _FIELDS[kind], ("States", "StartAt"))
    if "Comment" in machine:
        expect_string(ctx, machine["Comment"], pointer(loc, "Comment"), "Comment")
    if kind == "top":
        _check_top_fields(ctx, machine)
    if "ProcessorConfig" in machine:
        check_processor_config(ctx, machine["ProcessorConfig"], pointer(loc, "ProcessorConfig"))
    states = machine.get("States")
    states_loc = pointer(loc, "States")
    if "States" in machine and (not isinstance(states, dict) or not states):
        ctx.error(states_loc, "The field 'States' must be a non-empty JSON object")
        states = None
    start = machine.get("StartAt")
    start_ok = "StartAt" in machine and expect_string(
        ctx, start, pointer(loc, "StartAt"), "StartAt", empty=False
    )
    if start_ok and isinstance(states, dict) and start not in states:
        ctx.error(
            pointer(loc, "StartAt"), f"Missing 'Next' target: {start}", MISSING_TRANSITION_TARGET
        )
    if not isinstance(states, dict):
        return
    ctx.depth += 1
    try:
        edges = _check_states(ctx, states, states_loc)
    finally:
        ctx.depth -= 1
    if kind == "top" and not any(is_terminal(state) for state in states.values()):
        # AWS checks this for the whole workflow only, and then skips reachability.
        ctx.error("", "Workflow has no terminal state", MISSING_END_STATE)
        return
    if start_ok:
        reached = _reachable(start, edges) if start in states else set()
        for name in states:
            if name not in reached:
                ctx.error(
                    pointer(states_loc, name),
                    f'State "{name}" is not reachable.',
                    MISSING_TRANSITION_TARGET,
                )


def _check_top_fields(ctx: Context, machine: dict[str, Any]) -> None:
    if "Version" in machine and machine["Version"] != "1.0":
        ctx.error(
            pointer("/", "Version"),
            f"The value for the field 'Version' must be '1.0', not {shown(machine['Version'])}",
        )
    if "TimeoutSeconds" in machine:
        expect_int(
            ctx,
            machine["TimeoutSeconds"],
            pointer("/", "TimeoutSeconds"),
            "TimeoutSeconds",
            minimum=1,
            maximum=MAX_SECONDS,
        )
    if "QueryLanguage" in machine:
        expect_enum(
            ctx,
            machine["QueryLanguage"],
            pointer("/", "QueryLanguage"),
            "QueryLanguage",
            QUERY_LANGUAGES,
        )


def _check_states(ctx: Context, states: dict[str, Any], loc: str) -> dict[str, list[str]]:
    """Each state and its name; returns the transitions that resolve, by state."""
    for name in getattr(states, "duplicate_keys", ()):
        ctx.error(pointer(loc, name), f"Duplicate State name: {name}", DUPLICATE_STATE_NAME)
    edges: dict[str, list[str]] = {}
    for name, state in states.items():
        here = pointer(loc, name)
        if not name:
            ctx.error(here, "A state name must not be empty", INVALID_STATE_NAME)
        elif len(name) > MAX_STATE_NAME:
            ctx.error(
                here,
                f"State name {name!r} is longer than {MAX_STATE_NAME} characters",
                INVALID_STATE_NAME,
            )
        if name in ctx.state_names:
            ctx.error(
                here,
                f"Duplicate State name: {name} (also at {ctx.state_names[name]})",
                DUPLICATE_STATE_NAME,
            )
        else:
            ctx.state_names[name] = here
        targets: list[tuple[str, str]] = []
        check_state(ctx, state, here, targets)
        edges[name] = []
        for target, where in targets:
            if target in states:
                edges[name].append(target)
            else:
                ctx.error(where, f"Missing 'Next' target: {target}", MISSING_TRANSITION_TARGET)
    return edges


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
