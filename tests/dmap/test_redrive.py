"""RedriveExecution, and Map Runs resumed after the engine stops."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from montemap.engine.errors import ExecutionNotRedrivable
from montemap.testing import eventually_async
from tests.dmap.engine_env import (
    activity_step,
    dmap,
    engine_at,
    event_types,
    machine,
    map_run_arn,
    open_tasks,
    take,
)


def _children(engine: object, arn: str) -> dict[str, dict[str, object]]:
    rows = engine.db.query(  # type: ignore[attr-defined]
        "SELECT name, status, redrive_count FROM executions WHERE map_run_arn = ?", (arn,)
    )
    return {r["name"]: dict(r) for r in rows}


def test_redrive_reruns_only_failed_and_pending_children(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = dmap(activity_step(), MaxConcurrency=2, ToleratedFailureCount=0)
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": list(range(5))})
            )
            arn = rec.execution_arn
            token, value = await take(engine)  # item 0 succeeds
            await engine.send_task_success(token, json.dumps(value))
            token, _ = await take(engine)  # item 1 fails: the threshold (0) is passed
            await engine.send_task_failure(token, "Boom", "bad batch")
            failed = await asyncio.wait_for(engine.wait_for(arn), 10)
            assert failed.status == "FAILED"
            assert failed.redrive_status == "REDRIVABLE"
            run_arn = map_run_arn(engine, arn)
            before = _children(engine, run_arn)
            assert "FAILED" in {c["status"] for c in before.values()}
            kept = {
                int(n.rsplit("-", 1)[1]) for n, c in before.items() if c["status"] == "SUCCEEDED"
            }
            assert 0 in kept and len(before) < 5  # some items never started

            redriven_at = engine.redrive_execution(arn)
            assert redriven_at is not None
            served: list[int] = []
            while len(served) < 5 - len(kept):  # the failed, the aborted, the never started
                token, value = await take(engine)
                served.append(value)
                await engine.send_task_success(token, json.dumps(value))
            done = await asyncio.wait_for(engine.wait_for(arn), 10)
            assert done.status == "SUCCEEDED", done.cause
            assert sorted(served) == sorted(set(range(5)) - kept)  # succeeded ones did not rerun
            assert json.loads(done.output or "") == [0, 1, 2, 3, 4]
            assert done.redrive_count == 1
            types = event_types(engine, arn)
            assert types.count("ExecutionRedriven") == 1
            assert types.count("MapRunRedriven") == 1
            assert types[-1] == "ExecutionSucceeded"
            after = _children(engine, run_arn)
            assert len(after) == 5
            for name, child in after.items():
                assert child["status"] == "SUCCEEDED"
                expected = 1 if before.get(name, {}).get("status") in ("FAILED", "ABORTED") else 0
                assert child["redrive_count"] == expected, name
            described = engine.describe_map_run(run_arn)
            assert described["redriveCount"] == 1 and described["status"] == "SUCCEEDED"
            assert described["itemCounts"]["succeeded"] == 5

    asyncio.run(scenario())


def test_redrive_refusals(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            ok = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
            rec = await engine.start_execution(machine(ok), name="ok", input="{}")
            await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
            with pytest.raises(ExecutionNotRedrivable) as err:
                engine.redrive_execution(rec.execution_arn)
            assert err.value.arn == rec.execution_arn
            assert "SUCCEEDED" in err.value.reason
            waiting = dmap(activity_step())
            rec = await engine.start_execution(
                machine(waiting, "w"), name="w", input='{"items": [1]}'
            )
            await eventually_async(lambda: len(open_tasks(engine)) == 1, what="one open task")
            with pytest.raises(ExecutionNotRedrivable) as err:
                engine.redrive_execution(rec.execution_arn)
            assert "RUNNING" in err.value.reason
            child = open_tasks(engine)[0]["execution_arn"]
            await engine.stop_execution(child, error=None, cause=None)
            with pytest.raises(ExecutionNotRedrivable):  # a Map Run's child: redrive the parent
                engine.redrive_execution(child)
            assert engine.describe_execution(child).redrive_status == "REDRIVABLE_BY_MAP_RUN"

    asyncio.run(scenario())


def test_redrive_failed_task_state_continues_from_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engine_at(tmp_path) as engine:
            definition = {
                "StartAt": "First",
                "States": {
                    "First": {"Type": "Pass", "Result": 1, "ResultPath": "$.first", "Next": "Work"},
                    **{"Work": {**activity_step()["Work"], "ResultPath": "$.work"}},
                },
            }
            rec = await engine.start_execution(machine(definition), name="t", input="{}")
            token, _ = await take(engine)
            await engine.send_task_failure(token, "Boom", "once")
            assert (await engine.wait_for(rec.execution_arn)).status == "FAILED"
            engine.redrive_execution(rec.execution_arn)
            token, value = await take(engine)
            assert value == {"first": 1}
            await engine.send_task_success(token, '"ok"')
            done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
            assert done.status == "SUCCEEDED"
            assert json.loads(done.output or "") == {"first": 1, "work": "ok"}
            assert event_types(engine, rec.execution_arn).count("PassStateEntered") == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("execution_type", ["STANDARD", "EXPRESS"])
def test_map_run_resumes_after_engine_restart(tmp_path: Path, execution_type: str) -> None:
    async def scenario() -> None:
        definition = dmap(activity_step(), execution_type=execution_type, MaxConcurrency=3)
        async with engine_at(tmp_path) as engine:
            rec = await engine.start_execution(
                machine(definition), name="e", input=json.dumps({"items": list(range(8))})
            )
            for _ in range(2):
                token, value = await take(engine)
                await engine.send_task_success(token, json.dumps(value))
            await eventually_async(lambda: len(open_tasks(engine)) == 3, what="3 open tasks")
            held_token, _ = await take(engine)  # a worker holds this one across the restart
        async with engine_at(tmp_path) as engine:
            if execution_type == "STANDARD":  # the held task is still valid
                await engine.send_task_success(held_token, '"held"')
            served: list[int] = []
            while engine.describe_execution(rec.execution_arn).status == "RUNNING":
                got = await engine.get_activity_task(
                    "arn:aws:states:us-east-1:123456789012:activity:dmap-test",
                    "w",
                    wait_seconds=0.2,
                )
                if got is not None:
                    served.append(json.loads(got[1]))
                    await engine.send_task_success(got[0], got[1])
            done = engine.describe_execution(rec.execution_arn)
            assert done.status == "SUCCEEDED", done.cause
            output = json.loads(done.output or "")
            assert len(output) == 8
            assert output[:2] == [0, 1]  # the two finished before the restart were kept
            run_arn = map_run_arn(engine, rec.execution_arn)
            assert len(_children(engine, run_arn)) == 8
            assert engine.describe_map_run(run_arn)["itemCounts"]["succeeded"] == 8
            assert 0 not in served and 1 not in served

    asyncio.run(scenario())
