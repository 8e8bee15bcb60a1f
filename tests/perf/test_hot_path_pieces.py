"""The pieces that made activity round trips cheaper keep their exact behaviour."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from montemap.api import protocol
from montemap.api.app import _resumed, _unless_disconnected
from montemap.arns import ArnFactory
from montemap.engine.clock import ManualClock, SystemClock, iso
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.jsontext import compact_dumps, compact_encoder
from tests.engine.helpers import event_types, machine
from tests.perf.test_activity_path import fan_out

VALUES: list[Any] = [
    None,
    True,
    0,
    -12,
    1.5,
    1e300,
    "",
    "plain",
    'quote " and \\ backslash\n',
    "non-ascii é ü 雪 \u2028",
    [],
    {},
    [1, [2, [3, {"a": None}]]],
    {"b": 1, "a": [True, False], "é": {"x": "y"}},
    {1: "int key"},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_compact_dumps_matches_json_dumps(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert compact_dumps(value) == expected
    assert compact_dumps(value) == expected  # the reused encoder keeps no state


def test_compact_encoder_uses_its_default_and_refuses_unknown_types() -> None:
    encode = compact_encoder(lambda value: f"<{value.isoformat()}>")
    assert (
        encode({"at": datetime(2024, 1, 2, tzinfo=UTC)}) == '{"at":"<2024-01-02T00:00:00+00:00>"}'
    )
    with pytest.raises(TypeError):
        compact_dumps({"x": object()})
    assert compact_dumps({"x": [1]}) == '{"x":[1]}'  # usable after a failure


def test_wire_dumps_writes_datetimes_as_epoch_seconds() -> None:
    body = protocol.dumps({"d": datetime(2024, 1, 1, tzinfo=UTC), "s": "é"})
    assert json.loads(body) == {"d": 1704067200.0, "s": "é"}
    assert "é".encode() in body


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 1, 2, 1, 0, 0, 1000, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 6, 30, 12, 0, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
    ],
)
def test_iso_is_aws_context_object_format(moment: datetime) -> None:
    utc = moment.astimezone(UTC)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    assert iso(moment) == expected


def test_request_ids_are_distinct_version_4_uuids() -> None:
    ids = {protocol.new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_manual_clock_timers_fire_on_advance_unless_cancelled() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        fired: list[str] = []
        clock.call_at(clock.now() + timedelta(seconds=5), lambda: fired.append("five"))
        cancelled = clock.call_at(clock.now() + timedelta(seconds=1), lambda: fired.append("x"))
        clock.call_at(clock.now() - timedelta(seconds=1), lambda: fired.append("past"))
        cancelled.cancel()
        await asyncio.sleep(0)
        assert fired == ["past"]
        clock.advance(4)
        await asyncio.sleep(0)
        assert fired == ["past"]
        clock.advance(1)
        await asyncio.sleep(0)
        assert fired == ["past", "five"]

    asyncio.run(scenario())


def test_system_clock_timer_fires_and_can_be_cancelled() -> None:
    async def scenario() -> None:
        clock = SystemClock()
        fired = asyncio.Event()
        stopped: list[int] = []
        clock.call_at(clock.now() + timedelta(milliseconds=10), fired.set)
        timer = clock.call_at(clock.now() + timedelta(milliseconds=1), lambda: stopped.append(1))
        timer.cancel()
        await asyncio.wait_for(fired.wait(), 5)
        assert stopped == []

    asyncio.run(scenario())


def test_a_poll_answered_at_once_and_one_that_waits_both_return_their_result() -> None:
    async def scenario() -> None:
        async def at_once() -> dict[str, Any]:
            return {"taskToken": "now"}

        request: Any = None  # the disconnect watcher only starts for a poll that waits
        assert await _unless_disconnected(request, at_once()) == {"taskToken": "now"}

        # What _unless_disconnected does once a poll's first step blocked: resume it.
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def later() -> dict[str, Any]:
            return {"taskToken": await gate}

        coro = later()
        task = asyncio.ensure_future(_resumed(coro, coro.send(None)))
        gate.set_result("later")
        assert await asyncio.wait_for(task, 5) == {"taskToken": "later"}

    asyncio.run(scenario())


def test_a_resumed_poll_sees_cancellation_and_exceptions() -> None:
    async def scenario() -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        cleaned: list[str] = []

        async def poll() -> dict[str, Any]:
            try:
                await gate
            finally:
                cleaned.append("finally")
            return {}

        coro = poll()
        task = asyncio.ensure_future(_resumed(coro, coro.send(None)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == ["finally"]

        failing: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def broken() -> dict[str, Any]:
            await failing
            raise ValueError("boom")

        coro2 = broken()
        task2 = asyncio.ensure_future(_resumed(coro2, coro2.send(None)))
        failing.set_result(None)
        with pytest.raises(ValueError, match="boom"):
            await task2

    asyncio.run(scenario())


def test_inline_map_runs_at_most_max_concurrency_and_keeps_event_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        activity = engine.create_activity("work").arn
        rec = await engine.start_execution(
            machine(fan_out(activity, 3)), name="e", input=json.dumps(list(range(10)))
        )
        seen_open = 0
        done = 0
        while done < 10:
            task = await engine.get_activity_task(activity, "w", wait_seconds=0.05)
            if task is None:
                continue
            open_now = engine.db.query_one(
                "SELECT COUNT(*) AS n FROM activity_tasks WHERE status IN ('SCHEDULED', 'STARTED')"
            )
            assert open_now is not None
            seen_open = max(seen_open, int(open_now["n"]))
            await engine.send_task_success(task[0], task[1])
            done += 1
        finished = await engine.wait_for(rec.execution_arn, 10)
        assert finished.status == "SUCCEEDED", finished.cause
        assert json.loads(finished.output or "") == list(range(10))
        assert seen_open == 3
        types = event_types(engine, rec.execution_arn)
        per_item = [
            "MapIterationStarted",
            "TaskStateEntered",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivitySucceeded",
            "TaskStateExited",
            "MapIterationSucceeded",
        ]
        for kind in per_item:
            assert types.count(kind) == 10
        history, _ = engine.get_execution_history(
            rec.execution_arn, reverse=False, max_results=1000, next_token=None, include_data=True
        )
        started = [
            e["mapIterationStartedEventDetails"]["index"]
            for e in history
            if e["type"] == "MapIterationStarted"
        ]
        assert started == list(range(10))
        by_id = {e["id"]: e for e in history}
        for event in history:  # each iteration's events chain through previousEventId
            if event["type"] == "TaskStateEntered":
                assert by_id[event["previousEventId"]]["type"] == "MapIterationStarted"
            if event["type"] == "MapIterationSucceeded":
                assert by_id[event["previousEventId"]]["type"] == "TaskStateExited"
        await engine.close()
        engine.db.close()

    asyncio.run(scenario())
