"""In-process engine helpers for engine tests (no HTTP)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from montemap.arns import ArnFactory
from montemap.engine.clock import Clock
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.records import StateMachineRef


def machine(definition: dict[str, Any], name: str = "sm") -> StateMachineRef:
    arns = ArnFactory()
    return StateMachineRef(
        arn=arns.state_machine(name),
        name=name,
        definition=json.dumps(definition),
        role_arn="arn:aws:iam::123456789012:role/test",
    )


async def open_engine(path: Path, clock: Clock | None = None) -> Engine:
    engine = Engine(Database(path), arns=ArnFactory(), clock=clock)
    await engine.start()
    return engine


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run (no time passes on a ManualClock)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def event_types(engine: Engine, arn: str) -> list[str]:
    events, _ = engine.get_execution_history(
        arn, reverse=False, max_results=1000, next_token=None, include_data=True
    )
    return [e["type"] for e in events]
