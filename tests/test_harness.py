"""``montemap.testing``'s waiting helpers: what they return, when they give up, what they say."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import pytest

from montemap.testing import NotYet, eventually, eventually_async, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/harness"


def countdown(ready_after: int) -> Any:
    """A check that is falsy ``ready_after`` times, then returns how often it was called."""
    calls = [0]

    def check() -> int | None:
        calls[0] += 1
        return calls[0] if calls[0] > ready_after else None

    return check


def test_eventually_returns_the_first_truthy_value() -> None:
    assert eventually(countdown(3), interval=0) == 4


def test_eventually_retries_assertions_and_reports_the_last_one() -> None:
    def never() -> bool:
        raise AssertionError("still 3 open tasks")

    started = time.monotonic()
    with pytest.raises(NotYet, match=r"the queue draining did not hold within 0\.2 s") as info:
        eventually(never, timeout=0.2, what="the queue draining")
    assert time.monotonic() - started >= 0.2
    assert "still 3 open tasks" in str(info.value)


def test_eventually_reports_the_last_falsy_value() -> None:
    with pytest.raises(NotYet, match=r"last value: \[\]"):
        eventually(list, timeout=0.05)


def test_eventually_lets_other_errors_through_at_once() -> None:
    def broken() -> bool:
        raise KeyError("status")

    with pytest.raises(KeyError):
        eventually(broken, timeout=30)


def test_eventually_retries_the_errors_it_is_told_to() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("restarting")
        return "up"

    assert eventually(flaky, interval=0, retry_on=(ConnectionError,)) == "up"
    assert len(calls) == 3


def test_eventually_async_awaits_coroutine_checks() -> None:
    async def scenario() -> None:
        check = countdown(2)

        async def coroutine_check() -> int | None:
            await asyncio.sleep(0)
            result: int | None = check()
            return result

        awaited: int = await eventually_async(coroutine_check, interval=0)
        assert awaited == 3
        assert await eventually_async(countdown(1), interval=0) == 2
        with pytest.raises(NotYet, match="nothing did not hold"):
            await eventually_async(lambda: False, timeout=0.05, what="nothing")

    asyncio.run(scenario())


def _machine(client: Any, seconds: int) -> str:
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": seconds, "End": True}},
    }
    arn: str = client.create_state_machine(
        name=f"harness-{uuid.uuid4().hex[:10]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    return arn


def test_wait_for_execution_returns_the_ended_description(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    execution = client.start_execution(stateMachineArn=_machine(client, 1), input='{"n": 1}')
    described = wait_for_execution(client, execution["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 1}
    assert (described["stopDate"] - described["startDate"]).total_seconds() >= 1


def test_wait_for_execution_names_the_execution_that_did_not_end(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = client.start_execution(stateMachineArn=_machine(client, 600))["executionArn"]
    try:
        with pytest.raises(
            NotYet, match=re.escape(f"execution {arn} ending did not hold within 0.3 s")
        ):
            wait_for_execution(client, arn, timeout=0.3)
    finally:
        client.stop_execution(executionArn=arn)
