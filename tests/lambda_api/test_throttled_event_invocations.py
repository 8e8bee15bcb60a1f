"""Throttled asynchronous invocations: Lambda keeps a throttled event (no free slot)
and tries it again after a backoff until its maximum age; a throttle is not an attempt.
With reserved concurrency 0 the event goes to the on-failure destination at once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from montemap.engine.db import Database
from montemap.lambda_api.async_queue import AsyncQueue, Attempt, Policy, Queued, Throttled
from montemap.lambda_api.names import FunctionRef
from montemap.testing import MontemapServer, eventually, eventually_async
from tests.lambda_api.helpers import create


class Throttling:
    """Throttles the first ``throttles`` attempts (all, with None), then succeeds; the
    clock moves ``step`` seconds at each attempt."""

    def __init__(self, clock: list[float], throttles: int | None, step: float = 0.0) -> None:
        self.clock, self.throttles, self.step = clock, throttles, step
        self.calls = 0

    async def __call__(self, item: Queued) -> bool:
        self.calls += 1
        self.clock[0] += self.step
        if self.throttles is None or self.calls <= self.throttles:
            raise Throttled("Rate Exceeded.")
        return True


def _run(tmp_path: Path, run: Throttling, clock: list[float], max_age: float) -> list[Any]:
    ended: list[Any] = []

    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        queue = AsyncQueue(
            db,
            run,
            clock=lambda: clock[0],
            settings=lambda ref: Policy(2, max_age),
            done=lambda item, condition, count, last: ended.append((condition, count)),
            throttle_backoff=(0.001, 0.004),
        )
        queue.put(FunctionRef("f"), "{}")
        await eventually_async(lambda: ended, what="the invocation ended")
        assert queue.waiting() == 0
        await queue.close()
        db.close()

    asyncio.run(scenario())
    return ended


def test_a_throttled_event_is_tried_again_and_throttles_are_not_attempts(
    tmp_path: Path,
) -> None:
    clock = [1000.0]
    run = Throttling(clock, throttles=5)
    assert _run(tmp_path, run, clock, max_age=60) == [("Success", 1)]
    assert run.calls == 6


def test_an_event_throttled_until_its_maximum_age_is_given_up(tmp_path: Path) -> None:
    """Throttled at every try while the clock passes 60 s: given up at its age, never
    having run (``EventAgeExceeded``, no attempt)."""
    clock = [1000.0]
    run = Throttling(clock, throttles=None, step=7.0)
    assert _run(tmp_path, run, clock, max_age=60) == [("EventAgeExceeded", 0)]
    assert 8 <= run.calls <= 9  # tried every backoff until 60 s had passed, not after


def test_a_wake_cuts_a_throttle_backoff_short(tmp_path: Path) -> None:
    """A throttled invocation waits out its backoff unless a slot of its function is
    freed: ``wake`` starts its next try at once (no polling)."""

    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        calls: list[int] = []

        async def run(item: Queued) -> Attempt:
            calls.append(1)
            if len(calls) == 1:
                raise Throttled("busy")
            return Attempt(True)

        queue = AsyncQueue(db, run, throttle_backoff=(3600.0, 3600.0))
        queue.put(FunctionRef("f"), "{}")
        await eventually_async(lambda: calls, what="the first try")
        queue.wake("other")
        await asyncio.sleep(0)
        assert len(calls) == 1
        queue.wake("f")
        await eventually_async(lambda: queue.waiting() == 0, what="the second try")
        assert len(calls) == 2
        await queue.close()
        db.close()

    asyncio.run(scenario())


DESTINATION = """
import json
def handler(event, context):
    with open(event["requestPayload"]["out"] + ".record", "w") as f:
        json.dump(event, f)
"""


def test_reserved_concurrency_0_sends_the_event_to_the_on_failure_destination_at_once(
    lambda_server: MontemapServer, lambda_client: Any, tmp_path: Path
) -> None:
    """Lambda's documented behaviour: with reserved concurrency 0, new events of an
    asynchronously invoked function go to its on-failure destination without retries
    (condition ``ZeroReservedConcurrency``); they are not kept for when it is lifted.
    An ordinary throttle (slots busy) is tried again (the tests above)."""
    out = tmp_path / "ran"
    create(lambda_client, "thr-zero", {"index.py": "def handler(e, c):\n    open(e['out'], 'w')\n"})
    create(lambda_client, "thr-zero-dest", {"index.py": DESTINATION})
    dest = lambda_client.get_function(FunctionName="thr-zero-dest")["Configuration"]
    lambda_client.put_function_event_invoke_config(
        FunctionName="thr-zero",
        DestinationConfig={"OnFailure": {"Destination": dest["FunctionArn"]}},
    )
    lambda_client.put_function_concurrency(FunctionName="thr-zero", ReservedConcurrentExecutions=0)
    payload = json.dumps({"out": str(out)}).encode()
    lambda_client.invoke(FunctionName="thr-zero", InvocationType="Event", Payload=payload)
    record_path = tmp_path / "ran.record"
    eventually(lambda: record_path.exists() or None, timeout=10, what="the failure record")
    record = json.loads(record_path.read_text())
    context = record["requestContext"]
    assert context["condition"] == "ZeroReservedConcurrency"
    assert context["functionArn"].endswith(":function:thr-zero:$LATEST")
    assert record["requestPayload"] == {"out": str(out)}
    assert "responseContext" not in record  # it never ran
    reader = sqlite3.connect(lambda_server.data_dir / "montemap.db")
    try:
        (n,) = reader.execute(
            "SELECT COUNT(*) FROM lambda_async_queue WHERE name = 'thr-zero'"
        ).fetchone()
    finally:
        reader.close()
    assert n == 0 and not out.exists()  # given up, not kept for later
