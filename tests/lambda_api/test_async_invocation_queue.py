"""The queue of asynchronous invocations: Lambda's retries of a function error, its
maximum event age, and what a new queue over the same database delivers at start.

Real database, real queue; the attempts are a recording function, and the retry
delays are set to 0 (Lambda's are one and two minutes)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from montemap.engine.db import Database
from montemap.lambda_api.async_queue import RETRY_DELAYS, AsyncQueue, Queued
from montemap.lambda_api.names import FunctionRef
from montemap.testing import MontemapServer, eventually, eventually_async
from tests.lambda_api.helpers import create


class Attempts:
    """Records each attempt; fails the first ``failures`` (a function error), or raises."""

    def __init__(self, failures: int = 0, refuse: bool = False) -> None:
        self.failures = failures
        self.refuse = refuse
        self.seen: list[Queued] = []

    async def __call__(self, item: Queued) -> bool:
        self.seen.append(item)
        if self.refuse:
            raise RuntimeError("Function not found")
        return len(self.seen) > self.failures


def _rows(db: Database) -> list[tuple[int, int]]:
    return [(r["id"], r["attempts"]) for r in db.query("SELECT * FROM lambda_async_queue")]


async def _drained(db: Database) -> None:
    await eventually_async(lambda: not _rows(db), what="the queue is empty")


def test_lambdas_default_retries_are_two_after_one_then_two_minutes() -> None:
    assert RETRY_DELAYS == (60.0, 120.0)


def test_a_function_error_is_retried_twice_then_dropped(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        attempts = Attempts(failures=5)
        queue = AsyncQueue(db, attempts, retry_delays=(0.0, 0.0))
        queue.put(FunctionRef("f"), '{"a": 1}')
        await _drained(db)
        assert [item.attempts for item in attempts.seen] == [0, 1, 2]
        assert len({item.request_id for item in attempts.seen}) == 1  # one request id
        await queue.close()
        db.close()

    asyncio.run(scenario())


def test_a_retry_that_succeeds_ends_the_invocation(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        attempts = Attempts(failures=1)
        queue = AsyncQueue(db, attempts, retry_delays=(0.0, 0.0))
        queue.put(FunctionRef("f", "live"), "{}")
        await _drained(db)
        assert [item.attempts for item in attempts.seen] == [0, 1]
        assert attempts.seen[0].ref == FunctionRef("f", "live")
        await queue.close()
        db.close()

    asyncio.run(scenario())


def test_a_refusal_is_not_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        attempts = Attempts(refuse=True)
        queue = AsyncQueue(db, attempts, retry_delays=(0.0, 0.0))
        queue.put(FunctionRef("gone"), "{}")
        await _drained(db)
        assert len(attempts.seen) == 1
        await queue.close()
        db.close()

    asyncio.run(scenario())


def test_a_retry_waiting_at_a_stop_is_delivered_by_the_next_queue(tmp_path: Path) -> None:
    """The failed attempt is recorded: the next server's queue makes the next one, with
    the same request id and event, and does not start over."""

    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        first = Attempts(failures=5)
        queue = AsyncQueue(db, first, retry_delays=(3600.0, 3600.0))
        queue.put(FunctionRef("f"), '{"n": 1}')
        await eventually_async(lambda: _rows(db) and _rows(db)[0][1] == 1, what="one failure")
        await queue.close()
        (row,) = db.query("SELECT due FROM lambda_async_queue")
        second = Attempts()
        later = AsyncQueue(db, second, clock=lambda: float(row["due"]))  # the retry is due
        await later.start()
        await _drained(db)
        assert [(item.attempts, item.event) for item in second.seen] == [(1, '{"n": 1}')]
        assert second.seen[0].request_id == first.seen[0].request_id
        await later.close()
        db.close()

    asyncio.run(scenario())


def test_an_event_older_than_six_hours_is_dropped_unrun(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "m.db")
        clock = [1000.0]
        attempts = Attempts()
        queue = AsyncQueue(db, attempts, clock=lambda: clock[0])
        queue.put(FunctionRef("f"), "{}")
        await queue.close()  # before its task ran: the row stays
        assert len(_rows(db)) == 1
        clock[0] += 6 * 3600 + 1
        later = AsyncQueue(db, attempts, clock=lambda: clock[0])
        await later.start()
        await _drained(db)
        assert attempts.seen == []
        await later.close()
        db.close()

    asyncio.run(scenario())


def test_a_failing_event_invocation_waits_a_minute_for_its_retry(
    lambda_server: MontemapServer, lambda_client: Any, tmp_path: Path
) -> None:
    """Through the server: the first attempt fails, the queue keeps the invocation with
    one failed attempt and its retry due a minute later."""
    mark = tmp_path / "ran"
    source = "def handler(e, c):\n    open(e['mark'], 'a').write('x')\n    raise ValueError('no')\n"
    create(lambda_client, "retried", {"index.py": source})
    payload = json.dumps({"mark": str(mark)}).encode()
    lambda_client.invoke(FunctionName="retried", InvocationType="Event", Payload=payload)
    reader = sqlite3.connect(lambda_server.data_dir / "montemap.db")
    try:

        def failed_once() -> tuple[float, float] | None:
            row = reader.execute(
                "SELECT enqueued, due FROM lambda_async_queue WHERE name = 'retried' "
                "AND attempts = 1"
            ).fetchone()
            return None if row is None else (float(row[0]), float(row[1]))

        enqueued, due = eventually(failed_once, timeout=30, what="the first attempt failed")
    finally:
        reader.close()
    assert mark.read_text() == "x"
    assert 60 <= due - enqueued < 90


def test_an_event_invocation_answers_the_request_id_the_function_sees(
    lambda_client: Any, tmp_path: Path
) -> None:
    out = tmp_path / "id"
    source = "def handler(e, c):\n    open(e['out'], 'w').write(c.aws_request_id)\n"
    create(lambda_client, "request-id", {"index.py": source})
    payload = json.dumps({"out": str(out)}).encode()
    answer = lambda_client.invoke(
        FunctionName="request-id", InvocationType="Event", Payload=payload
    )
    seen = eventually(lambda: out.exists() and out.read_text(), timeout=30, what="the run")
    assert seen == answer["ResponseMetadata"]["RequestId"]
