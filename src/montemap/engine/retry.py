"""Retry and Catch: which retrier or catcher handles an error, and how long to wait."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from montemap.engine.phase import Phase
from montemap.errors import StatesError, matches

DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF = 2.0
#: The longest wait between two attempts (about 31 years): the exponential backoff of a
#: retrier with many attempts stops growing here, where a date still has a year to show.
LONGEST_DELAY = 1e9


def keep_also_matches(phase: Phase, err: StatesError) -> None:
    """Record in a failing frame's ``phase`` the other names ``err`` matches, so that
    the error rebuilt after a restart (:func:`failed_frame_error`) still matches them."""
    also = getattr(err, "also_matches", None)
    if also:
        phase["also_matches"] = sorted(also)


def failed_frame_error(error: str | None, cause: str | None, phase: Phase) -> StatesError:
    """The error of a frame found FAILED (a branch or an iteration, after a restart),
    as it was raised: with the other names it matches in a Retry or a Catch."""
    err = StatesError(error or "", cause)
    also = phase.get("also_matches")
    if also:
        err.also_matches = frozenset(also)  # type: ignore[attr-defined]
    return err


def error_matches(error_equals: Sequence[str], err: StatesError) -> bool:
    names = [err.error, *sorted(getattr(err, "also_matches", ()))]
    return any(matches(list(error_equals), name) for name in names)


def find_retrier(
    retriers: Sequence[Mapping[str, Any]], err: StatesError
) -> tuple[int, Mapping[str, Any]] | None:
    for index, retrier in enumerate(retriers):
        if error_matches(retrier.get("ErrorEquals", []), err):
            return index, retrier
    return None


def find_catcher(
    catchers: Sequence[Mapping[str, Any]], err: StatesError
) -> Mapping[str, Any] | None:
    for catcher in catchers:
        if error_matches(catcher.get("ErrorEquals", []), err):
            return catcher
    return None


def retry_delay(
    retrier: Mapping[str, Any], attempt: int, rng: random.Random | None = None
) -> float:
    """Seconds before retry number ``attempt + 1`` (``attempt`` retries already done)."""
    interval = float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL))
    backoff = float(retrier.get("BackoffRate", DEFAULT_BACKOFF))
    try:
        delay = interval * backoff**attempt
    except OverflowError:  # a retrier that retries (nearly) forever, its delay capped
        delay = math.inf
    max_delay = retrier.get("MaxDelaySeconds")
    if max_delay is not None:
        delay = min(delay, float(max_delay))
    delay = min(delay, LONGEST_DELAY)
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = (rng or random).uniform(0.0, delay)
    return delay


def max_attempts(retrier: Mapping[str, Any]) -> int:
    return int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))


def error_output(err: StatesError) -> dict[str, Any]:
    """What a Catcher passes on: ``{"Error": ..., "Cause": ...}``."""
    out: dict[str, Any] = {"Error": err.error}
    if err.cause is not None:
        out["Cause"] = err.cause
    return out
