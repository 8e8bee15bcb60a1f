"""The bounds on one JSONata evaluation, and where they come from.

Every ``"{% %}"`` template is evaluated under a hard time limit and a hard
memory limit. A breach fails the state with ``States.QueryEvaluationError``.
Both limits are configurable through the environment of the server process:

``MONTEMAP_JSONATA_TIMEOUT_S``
    Wall-clock seconds one evaluation may run (default 10, as AWS's bound).
``MONTEMAP_JSONATA_MEMORY_MB``
    Address space, in MiB, an evaluator process may add to what it needs at
    rest (default 512).
``MONTEMAP_JSONATA_WORKERS``
    How many evaluator processes run expressions that leave the fast path
    (default 2).

A value that is not a plain ASCII number (``1_0``, ``١٠``, ``inf`` are refused), or is
not positive, is refused when a server
starts (:mod:`montemap.environment`); an engine started without that check
fails the first template that needs an evaluator process, with a cause naming
the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from montemap import option_types
from montemap.errors import MontemapError

__all__ = [
    "DEFAULT_LIMITS",
    "ENV_MEMORY_MB",
    "ENV_TIMEOUT_S",
    "ENV_WORKERS",
    "FAST_BUDGET_MS",
    "FAST_MAX_ITEMS",
    "FAST_MAX_STRING",
    "FAST_MAX_TOTAL_CHARS",
    "MAX_RESULT_CHARS",
    "QueryLimits",
    "limits_from_env",
]

ENV_TIMEOUT_S: Final[str] = "MONTEMAP_JSONATA_TIMEOUT_S"
ENV_MEMORY_MB: Final[str] = "MONTEMAP_JSONATA_MEMORY_MB"
ENV_WORKERS: Final[str] = "MONTEMAP_JSONATA_WORKERS"

#: Fast path: an expression evaluated on the caller's thread gives up (and is
#: evaluated again in an evaluator process) past any of these.
FAST_BUDGET_MS: Final[int] = 50
#: ... a string longer than this many characters,
FAST_MAX_STRING: Final[int] = 1 << 20
#: ... an array longer than this,
FAST_MAX_ITEMS: Final[int] = 100_000
#: ... or more than this many characters or items produced in all.
FAST_MAX_TOTAL_CHARS: Final[int] = 8 << 20

#: Largest result (characters of text plus items) an evaluation may return;
#: far above any payload AWS accepts (256 KiB), far below what would exhaust
#: the server when the result is serialized.
MAX_RESULT_CHARS: Final[int] = 16 << 20


class LimitsError(MontemapError):
    """A JSONata limit in the environment that is not a positive number."""


@dataclass(frozen=True)
class QueryLimits:
    """Hard bounds on one evaluation outside the fast path."""

    timeout_s: float = 10.0
    memory_mb: int = 512
    workers: int = 2

    @property
    def timeout_ms(self) -> int:
        return max(1, round(self.timeout_s * 1000))


DEFAULT_LIMITS: Final[QueryLimits] = QueryLimits()


def limits_from_env(env: Mapping[str, str] | None = None) -> QueryLimits:
    """The limits the environment sets, defaults for what it leaves out."""
    source = os.environ if env is None else env
    values: list[float] = []
    problems: list[str] = []  # every bad limit named, not just the first
    for name, kind, default in (
        (ENV_TIMEOUT_S, float, DEFAULT_LIMITS.timeout_s),
        (ENV_MEMORY_MB, int, DEFAULT_LIMITS.memory_mb),
        (ENV_WORKERS, int, DEFAULT_LIMITS.workers),
    ):
        try:
            values.append(_positive(source, name, kind, default))
        except LimitsError as exc:
            problems.append(str(exc))
    if problems:
        raise LimitsError("; ".join(problems))
    timeout_s, memory_mb, workers = values
    return QueryLimits(timeout_s=timeout_s, memory_mb=int(memory_mb), workers=int(workers))


def _positive(
    source: Mapping[str, str], name: str, kind: type[int] | type[float], default: float
) -> float:
    text = source.get(name)
    if text is None or not text.strip():
        return default
    plain = text.strip()
    # ASCII only: ``int``/``float`` also read ``1_0``, ``١٠٠``, ``inf`` and ``nan``
    whole = kind is int
    if not (option_types.is_integer_text(plain) if whole else option_types.is_decimal_text(plain)):
        what = "a whole number" if whole else "a number"
        raise LimitsError(f"{name}={text!r} is not {what} (ASCII digits 0-9)")
    if whole and len(plain.lstrip("+-").lstrip("0")) > option_types.MAX_INTEGER_DIGITS:
        raise LimitsError(f"{name}={text!r} is out of range")
    value = kind(plain)
    if not value > 0:
        raise LimitsError(f"{name}={text!r} must be positive")
    if not math.isfinite(value):
        raise LimitsError(f"{name}={text!r} is out of range")
    return value
