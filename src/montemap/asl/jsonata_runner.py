"""How the engine evaluates a state's JSONata fields: off the event loop, within hard limits.

:func:`evaluate_field` first tries each template on the fast path, in-process
(see :mod:`montemap.asl.jsonata_guard`): an ordinary template finishes there
in microseconds. A template the fast path gives up on is evaluated again in
an evaluator process (:mod:`montemap.asl.jsonata_pool`) while the event loop
keeps serving other requests; past the time or memory limit it fails with
``States.QueryEvaluationError``.

The limits come from the environment (:func:`~montemap.asl.jsonata_limits.limits_from_env`)
when the first template leaves the fast path; :func:`configure` sets them
explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from montemap.asl import jsonata_query
from montemap.asl.jsonata_guard import Escalate
from montemap.asl.jsonata_limits import LimitsError, QueryLimits, limits_from_env
from montemap.asl.jsonata_pool import EvaluatorPool, Request
from montemap.errors import QUERY_EVALUATION_ERROR, EvaluationError

__all__ = ["configure", "evaluate_field", "shutdown"]

_LOCK = threading.Lock()
_POOL: EvaluatorPool | None = None


def configure(limits: QueryLimits) -> None:
    """Use ``limits`` from now on (stops the evaluators running under the old ones)."""
    global _POOL
    with _LOCK:
        if _POOL is not None:
            _POOL.close()
        _POOL = EvaluatorPool(limits)


def shutdown() -> None:
    """Stop the evaluator processes (a later evaluation starts new ones)."""
    with _LOCK:
        if _POOL is not None:
            _POOL.close()


def _pool() -> EvaluatorPool:
    global _POOL
    with _LOCK:
        if _POOL is None:
            try:
                limits = limits_from_env()
            except LimitsError as exc:  # the state fails, naming the variable
                raise EvaluationError(QUERY_EVALUATION_ERROR, str(exc)) from None
            _POOL = EvaluatorPool(limits)
        return _POOL


async def evaluate_field(
    value: Any, *, field: str, states: Mapping[str, Any], variables: Mapping[str, Any]
) -> Any:
    """:func:`montemap.asl.jsonata_query.evaluate_field`, bounded and off the event loop."""
    try:
        return jsonata_query.evaluate_field(
            value, field=field, states=states, variables=variables, inline=True
        )
    except Escalate:
        pass
    if jsonata_query.is_expression(value):
        request = Request(value, field, dict(states), dict(variables))
        return await _pool().evaluate(request)
    if isinstance(value, dict):
        return {
            key: await evaluate_field(
                item, field=f"{field}/{key}", states=states, variables=variables
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            await evaluate_field(
                item, field=f"{field}[{index}]", states=states, variables=variables
            )
            for index, item in enumerate(value)
        ]
    return value
