"""Exponential back-off with full jitter, for retrying API calls."""

from __future__ import annotations

import random


class Backoff:
    """Delays ``uniform(0, min(cap, base * 2**attempt))`` ("full jitter").

    Full jitter spreads the retries of many workers that failed at once (the
    server restarted) instead of having them hammer it in step.
    """

    def __init__(self, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError(f"back-off needs 0 < base <= cap, got base={base} cap={cap}")
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()
        self.attempt = 0

    def ceiling(self, attempt: int) -> float:
        """The largest delay of the ``attempt``-th retry (0-based)."""
        return min(self.cap, self.base * 2.0 ** min(attempt, 62))

    def next_delay(self) -> float:
        """The delay before the next retry; each call counts one more failure."""
        delay = self._rng.uniform(0.0, self.ceiling(self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """A call succeeded: the next failure starts from ``base`` again."""
        self.attempt = 0
