"""Validation of ``Retry`` and ``Catch`` (Task, Parallel and Map states)."""

from __future__ import annotations

from typing import Any

from montemap.asl.validate_base import (
    JSONATA,
    JSONPATH,
    MAX_INT_FIELD,
    Context,
    check_fields,
    check_language_fields,
    expect_enum,
    expect_int,
    expect_object,
    expect_string,
    is_number,
    pointer,
    shown,
)
from montemap.asl.validate_payload import check_assign, check_expressions, check_path
from montemap.errors import ALL

#: The longest back-off cap AWS accepts (one year and a day, in seconds).
MAX_DELAY_SECONDS = 31_622_400

_RETRIER_FIELDS = (
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
)
_CATCHER_FIELDS = ("ErrorEquals", "Next", "Assign", "Comment")


def _check_error_equals(ctx: Context, rule: dict[str, Any], loc: str, last: bool) -> None:
    value = rule.get("ErrorEquals")
    here = pointer(loc, "ErrorEquals")
    if not isinstance(value, list) or not value:
        ctx.error(here, "The field 'ErrorEquals' must be a non-empty array of error names")
        return
    for index, name in enumerate(value):
        expect_string(ctx, name, pointer(here, index), "ErrorEquals", empty=False)
    if ALL in value:
        if len(value) > 1:
            ctx.error(here, f"'{ALL}' must appear alone in 'ErrorEquals'")
        if not last:
            ctx.error(here, f"A rule whose 'ErrorEquals' is '{ALL}' must be the last one")


def _rules(ctx: Context, state: dict[str, Any], loc: str, name: str) -> list[tuple[int, Any]]:
    value = state[name]
    if not isinstance(value, list):
        ctx.error(loc, f"The field '{name}' must be an array")
        return []
    return list(enumerate(value))


def check_retry(ctx: Context, state: dict[str, Any], loc: str) -> None:
    """``state["Retry"]``: the retriers' fields and their ranges."""
    rules = _rules(ctx, state, loc, "Retry")
    for index, rule in rules:
        here = pointer(loc, index)
        if not expect_object(ctx, rule, here, "A Retrier"):
            continue
        check_fields(ctx, rule, here, _RETRIER_FIELDS, ("ErrorEquals",))
        _check_error_equals(ctx, rule, here, index == len(rules) - 1)
        if "IntervalSeconds" in rule:
            expect_int(
                ctx,
                rule["IntervalSeconds"],
                pointer(here, "IntervalSeconds"),
                "IntervalSeconds",
                1,
                MAX_INT_FIELD,
            )
        if "MaxAttempts" in rule:
            expect_int(
                ctx,
                rule["MaxAttempts"],
                pointer(here, "MaxAttempts"),
                "MaxAttempts",
                0,
                MAX_INT_FIELD,
            )
        if "BackoffRate" in rule:
            rate = rule["BackoffRate"]
            if not (is_number(rate) and rate >= 1.0):
                ctx.error(
                    pointer(here, "BackoffRate"),
                    f"The value for the field 'BackoffRate' must be a number >= 1.0, not {shown(rate)}",
                )
        if "MaxDelaySeconds" in rule:
            expect_int(
                ctx,
                rule["MaxDelaySeconds"],
                pointer(here, "MaxDelaySeconds"),
                "MaxDelaySeconds",
                minimum=1,
                maximum=MAX_DELAY_SECONDS,
            )
        if "JitterStrategy" in rule:
            expect_enum(
                ctx,
                rule["JitterStrategy"],
                pointer(here, "JitterStrategy"),
                "JitterStrategy",
                ("FULL", "NONE"),
            )
        if "Comment" in rule:
            expect_string(ctx, rule["Comment"], pointer(here, "Comment"), "Comment")


def check_catch(
    ctx: Context, state: dict[str, Any], loc: str, language: str, targets: list[tuple[str, str]]
) -> None:
    """``state["Catch"]``; each catcher's ``Next`` is appended to ``targets`` as
    ``(name, pointer)`` for the caller to resolve."""
    rules = _rules(ctx, state, loc, "Catch")
    for index, rule in rules:
        here = pointer(loc, index)
        if not expect_object(ctx, rule, here, "A Catcher"):
            continue
        check_language_fields(
            ctx,
            rule,
            here,
            language,
            _CATCHER_FIELDS,
            ("ResultPath",),
            ("Output",),
            ("ErrorEquals", "Next"),
        )
        _check_error_equals(ctx, rule, here, index == len(rules) - 1)
        nxt = rule.get("Next")
        if nxt is not None and expect_string(ctx, nxt, pointer(here, "Next"), "Next", empty=False):
            targets.append((nxt, pointer(here, "Next")))
        if "ResultPath" in rule and language == JSONPATH:
            check_path(
                ctx,
                rule["ResultPath"],
                pointer(here, "ResultPath"),
                "ResultPath",
                nullable=True,
                result=True,
            )
        if "Assign" in rule:
            check_assign(ctx, rule["Assign"], pointer(here, "Assign"), language)
        if language == JSONATA:
            for name in ("Output", "Assign"):
                if name in rule:
                    check_expressions(ctx, rule[name], pointer(here, name))
        if "Comment" in rule:
            expect_string(ctx, rule["Comment"], pointer(here, "Comment"), "Comment")
