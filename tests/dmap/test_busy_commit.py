"""Responses are not starved while a Map Run writes in every event-loop turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

from montemap.engine.db import Database, committed


def test_committed_returns_while_background_work_keeps_writing(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "busy.db")
        db.migrate("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        running = True

        async def busy() -> None:  # like a Map Run driver: a write in every turn
            while running:
                with db.transaction() as conn:
                    conn.execute("INSERT INTO t VALUES (1)")
                await asyncio.sleep(0)

        task = asyncio.create_task(busy())
        await asyncio.sleep(0)
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (2)")
        await asyncio.wait_for(committed(), 2)  # waited for a quiet database before
        assert db.query_one("SELECT COUNT(*) AS n FROM t WHERE v = 2")["n"] == 1  # type: ignore[index]
        running = False
        await task
        db.close()

    asyncio.run(scenario())
