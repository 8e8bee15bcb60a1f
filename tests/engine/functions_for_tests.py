"""Functions the engine tests register as local "Lambda" functions."""

from __future__ import annotations

from typing import Any


def double(event: Any, context: Any) -> Any:
    return {"value": event["value"] * 2, "function": context["function_name"]}


class InsufficientFunds(Exception):
    pass


def refuse(event: Any, context: Any) -> Any:
    raise InsufficientFunds(f"balance too low for {event['amount']}")
