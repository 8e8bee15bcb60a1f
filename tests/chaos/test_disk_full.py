"""Disk full: requests fail cleanly, nothing acknowledged is lost, work resumes without restart.

Issue 11, finding 3: with the disk full, executions already answered with 200
stayed RUNNING after space came back, until a restart.

Two ways to fill the disk: ``PRAGMA max_page_count`` lowered on the live
connection (a real SQLITE_FULL from SQLite, on any machine), and a small
tmpfs holding the database (a real ENOSPC from the kernel; skipped where
mounting is not permitted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from montemap.api.app import create_app
from montemap.api.registry import Registry
from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from tests.chaos.test_commit_isolation import call

ROLE = "arn:aws:iam::123456789012:role/r"
BIG = json.dumps({"pad": "x" * 60_000})
ACKNOWLEDGED = 6


class Server:
    """The in-process API over one database, with helpers for the scenario."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.engine = Engine(self.db, arns=ArnFactory())
        self.app = create_app(engine=self.engine, registry=Registry(self.db, arns=ArnFactory()))

    async def call(self, action: str, body: dict[str, Any]) -> tuple[int, Any]:
        return await call(self.app, action, body)

    async def machine(self, name: str, definition: dict[str, Any]) -> str:
        status, out = await self.call(
            "CreateStateMachine",
            {"name": name, "definition": json.dumps(definition), "roleArn": ROLE},
        )
        assert status == 200, out
        return str(out["stateMachineArn"])

    async def status(self, arn: str) -> str:
        status, out = await self.call("DescribeExecution", {"executionArn": arn})
        assert status == 200, out
        return str(out["status"])


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def scenario(path: Path, fill: Callable[[Database], None], free: Callable[[], None]) -> None:
    """Acknowledge work, fill the disk, make requests, free it: the acknowledged work ends."""
    server = Server(path)
    activity = server.engine.create_activity("work").arn
    waits = await server.machine(
        "waits",
        {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": activity, "End": True}}},
    )
    passes = await server.machine(
        "passes", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    acknowledged: list[str] = []
    for i in range(ACKNOWLEDGED):
        status, out = await server.call(
            "StartExecution", {"stateMachineArn": waits, "name": f"a{i}"}
        )
        assert status == 200, out
        acknowledged.append(out["executionArn"])
    tokens = []
    for _ in acknowledged:
        task = await server.engine.get_activity_task(activity, None, wait_seconds=30)
        assert task is not None
        tokens.append(task[0])

    fill(server.db)
    # Requests while the disk is full: each is answered 200 (and then must survive) or
    # refused cleanly with 503; they run concurrently, as a client's would.
    requests: list[asyncio.Task[tuple[int, Any]]] = []
    started: dict[int, str] = {}
    for i in range(200):
        body = {"stateMachineArn": passes, "name": f"b{i}", "input": BIG}
        started[len(requests)] = f"b{i}"
        requests.append(asyncio.create_task(server.call("StartExecution", body)))
        if i < len(tokens):
            requests.append(
                asyncio.create_task(
                    server.call("SendTaskSuccess", {"taskToken": tokens[i], "output": BIG})
                )
            )
        await asyncio.sleep(0.005)
        if any(t.done() and t.result()[0] == 503 for t in requests):
            break
    refused = [t.result() for t in requests if t.done() and t.result()[0] != 200]
    assert refused, "the disk never filled"
    for status, out in refused:
        assert status == 503, out
        assert "cannot commit" in out["message"] and str(path) in out["message"], out

    free()
    results = await asyncio.gather(*requests)
    assert {status for status, _ in results} <= {200, 503}, results
    answered = [
        started[i] for i, (status, _) in enumerate(results) if status == 200 and i in started
    ]
    # Every task result that was refused is sent again; every one acknowledged stays.
    for token in tokens:
        status, out = await server.call("SendTaskSuccess", {"taskToken": token, "output": "{}"})
        assert (
            status == 200 or out["__type"].endswith("TaskTimedOut") or "Token" in out["__type"]
        ), out

    async def all_ended() -> bool:
        return all([await server.status(arn) == "SUCCEEDED" for arn in acknowledged])

    await until(all_ended, "the acknowledged executions to succeed")
    await server.engine.close()
    server.db.close()
    durable = sqlite3.connect(path)
    try:
        rows = dict(durable.execute("SELECT name, status FROM executions WHERE name LIKE 'b%'"))
    finally:
        durable.close()
    assert set(rows) == set(answered)  # nothing refused appears, nothing answered is lost
    assert set(rows.values()) <= {"SUCCEEDED"}, rows


def test_sqlite_full_from_max_page_count(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    holder: list[Database] = []

    def fill(db: Database) -> None:
        holder.append(db)
        pages = db.query("PRAGMA page_count")[0][0]
        db.query(f"PRAGMA max_page_count = {pages}")

    def free() -> None:
        holder[0].query("PRAGMA max_page_count = 1073741823")

    asyncio.run(scenario(path, fill, free))


@contextlib.contextmanager
def small_filesystem(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (skips the test where mounting is refused)."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_enospc_on_a_small_filesystem(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "4m") as mount:
        path = mount / "m.db"
        filler = mount / "filler"

        def fill(db: Database) -> None:
            db.flush()
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()

        def free() -> None:
            filler.unlink()

        asyncio.run(scenario(path, fill, free))


def test_a_step_that_cannot_be_saved_is_retried_then_fails_the_execution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never left RUNNING: bounded retries of the state, then States.Runtime naming why."""
    from montemap.engine import run

    monkeypatch.setattr(run, "SAVE_RETRY_FIRST", 0.01)
    monkeypatch.setattr(run, "SAVE_RETRY_MAX", 0.05)
    path = tmp_path / "m.db"

    async def scenario() -> None:
        server = Server(path)
        activity = server.engine.create_activity("work").arn
        definition = {
            "StartAt": "Big",
            "States": {
                "Big": {"Type": "Pass", "Result": {"pad": "x" * 200_000}, "Next": "Wait"},
                "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Other"},
                # A new large text (one already stored is not written again).
                "Other": {"Type": "Pass", "Result": {"pad": "y" * 200_000}, "Next": "Work"},
                "Work": {"Type": "Task", "Resource": activity, "End": True},
            },
        }
        sm = await server.machine("m", definition)
        status, out = await server.call("StartExecution", {"stateMachineArn": sm, "name": "e"})
        assert status == 200, out
        arn = out["executionArn"]
        pages = server.db.query("PRAGMA page_count")[0][0]
        server.db.query(f"PRAGMA max_page_count = {pages}")  # full before Big is saved
        execution = server.engine.runs[arn]

        async def ended_in_memory() -> bool:
            return execution.done.is_set()

        await until(ended_in_memory, "the execution to give up")
        assert await server.status(arn) == "RUNNING"  # its end is not saved yet
        server.db.query("PRAGMA max_page_count = 1073741823")

        async def ended() -> bool:
            return await server.status(arn) != "RUNNING"

        await until(ended, "the execution's end to be saved")
        status, out = await server.call("DescribeExecution", {"executionArn": arn})
        assert (out["status"], out["error"]) == ("FAILED", "States.Runtime"), out
        assert "could not be saved" in out["cause"] and "full" in out["cause"], out
        await server.engine.close()
        server.db.close()

    asyncio.run(scenario())
