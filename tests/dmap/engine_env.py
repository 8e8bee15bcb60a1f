"""An in-process engine with an object store, and small Distributed Map definitions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.records import StateMachineRef
from montemap.storage import LocalObjectStore

ARNS = ArnFactory()
ACTIVITY = ARNS.activity("dmap-test")


def machine(definition: dict[str, Any], name: str = "sm") -> StateMachineRef:
    return StateMachineRef(
        arn=ARNS.state_machine(name),
        name=name,
        definition=json.dumps(definition),
        role_arn="arn:aws:iam::123456789012:role/test",
    )


def dmap(
    processor_states: dict[str, Any],
    *,
    execution_type: str = "STANDARD",
    items_path: str = "$.items",
    **fields: Any,
) -> dict[str, Any]:
    """A machine whose only state is a Distributed Map over ``items_path``."""
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": items_path,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                    "StartAt": next(iter(processor_states)),
                    "States": processor_states,
                },
                "End": True,
                **fields,
            }
        },
    }


def activity_step(**fields: Any) -> dict[str, Any]:
    return {"Work": {"Type": "Task", "Resource": ACTIVITY, "End": True, **fields}}


@asynccontextmanager
async def engine_at(path: Path) -> AsyncIterator[Engine]:
    """An engine on the database ``path/m.db`` and the buckets under ``path/buckets``."""
    store = LocalObjectStore(path / "buckets")
    db = Database(path / "m.db")
    engine = Engine(db, arns=ARNS, store=store)
    engine.create_activity("dmap-test")
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
        db.close()


def open_tasks(engine: Engine) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in engine.db.query(
            "SELECT a.token, COALESCE(a.input, t.text) AS input, a.status, a.execution_arn"
            " FROM activity_tasks a LEFT JOIN texts t ON t.digest = a.input_ref"
            " WHERE a.status IN ('SCHEDULED', 'STARTED') ORDER BY a.seq"
        )
    ]


async def take(engine: Engine) -> tuple[str, Any]:
    """Claim the next activity task: (token, input)."""
    got = await engine.get_activity_task(ACTIVITY, "test-worker", wait_seconds=5)
    assert got is not None, "no activity task was scheduled"
    return got[0], json.loads(got[1])


def event_types(engine: Engine, arn: str) -> list[str]:
    events, _ = engine.get_execution_history(
        arn, reverse=False, max_results=1000, next_token=None, include_data=True
    )
    return [e["type"] for e in events]


def map_run_arn(engine: Engine, execution_arn: str) -> str:
    runs, _ = engine.list_map_runs(execution_arn, max_results=10, next_token=None)
    assert runs, "the execution has no Map Run"
    arn: str = runs[-1]["mapRunArn"]
    return arn
