"""A Distributed Map that starts many children leaves the event loop to others between them."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

from montemap.testing import eventually_async
from tests.dmap.engine_env import activity_step, dmap, engine_at, machine

CHILDREN = 300


def test_other_work_runs_between_two_child_starts(tmp_path: Path) -> None:
    """A ticker that only yields sees at most one child start per turn it gets.

    Before, the driver started 100 children (reading and batching their items,
    writing their rows) before it let anything else run: requests (an ECS task
    launch, a worker's poll) waited behind them.
    """

    async def scenario() -> int:
        async with engine_at(tmp_path) as engine:
            definition = dmap(activity_step(), MaxConcurrency=0)
            items = [{"n": i} for i in range(CHILDREN)]
            record = await engine.start_execution(
                machine(definition), name="many", input=json.dumps({"items": items})
            )
            seen: list[int] = []
            ticking = True

            async def ticker() -> None:
                while ticking:
                    seen.append(engine.metrics["executions_started"])
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())

            def all_started() -> bool:
                return engine.metrics["executions_started"] == CHILDREN + 1

            await eventually_async(all_started, timeout=60, what="every child started")
            ticking = False
            await task
            await engine.stop_execution(record.execution_arn, error=None, cause=None)
            steps = [b - a for a, b in itertools.pairwise(seen)]
            return max(steps)

    assert asyncio.run(scenario()) <= 2
