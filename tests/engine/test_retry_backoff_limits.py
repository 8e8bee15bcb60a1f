"""A retrier whose exponential backoff outgrows a float or a date: the waits stop growing
(at MaxDelaySeconds, or at a ceiling of about 31 years), and the state is retried as
often as MaxAttempts says, never failing the execution with an internal error.

"Retry forever, at most every N seconds" (a huge MaxAttempts, BackoffRate 2 and a
MaxDelaySeconds) reaches ``2.0 ** 1024`` after about a thousand attempts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.clock import ManualClock
from montemap.engine.retry import LONGEST_DELAY, retry_delay
from tests.engine.helpers import event_types, machine, open_engine, settle


def _failing_parallel(retrier: dict[str, Any]) -> dict[str, Any]:
    branch = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Custom"}}}
    return {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Parallel", "Branches": [branch], "Retry": [retrier], "End": True}
        },
    }


@pytest.mark.parametrize(
    ("retrier", "advance"),
    [
        ({"BackoffRate": 1e200, "MaxDelaySeconds": 5}, 5.0),
        ({"BackoffRate": 1e200}, LONGEST_DELAY),
        ({"IntervalSeconds": 99999999, "BackoffRate": 1000}, LONGEST_DELAY),
    ],
)
def test_each_attempt_is_made_after_a_bounded_wait(
    tmp_path: Path, retrier: dict[str, Any], advance: float
) -> None:
    definition = _failing_parallel({"ErrorEquals": ["Custom"], "MaxAttempts": 4, **retrier})

    async def scenario() -> tuple[str, str | None, list[str]]:
        clock = ManualClock()
        engine = await open_engine(tmp_path / "m.db", clock=clock)
        try:
            started = await engine.start_execution(machine(definition), name="e", input="{}")
            for _ in range(5):
                await settle(50)
                clock.advance(advance)
            done = await engine.wait_for(started.execution_arn, 30)
            return done.status, done.error, event_types(engine, started.execution_arn)
        finally:
            await engine.close()

    status, error, types = asyncio.run(scenario())
    assert (status, error) == ("FAILED", "Custom")
    assert types.count("ParallelStateStarted") == 5


def test_the_wait_of_a_late_attempt_is_the_cap() -> None:
    forever = {"ErrorEquals": ["X"], "BackoffRate": 2, "MaxDelaySeconds": 60}
    assert retry_delay(forever, 5000) == 60
    assert retry_delay({"ErrorEquals": ["X"], "BackoffRate": 2}, 5000) == LONGEST_DELAY
    assert retry_delay({"ErrorEquals": ["X"], "BackoffRate": 2}, 3) == 8
