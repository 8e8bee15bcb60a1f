"""``montemap run`` stops, and says why, when its worker tasks exit as they start.

The worker service replaces each task that exits, with a growing delay, as ECS does; when
every task exits at once no batch is ever taken, and ``run`` used to wait at "workers
0/1" for ever with the cause only in the tasks' log files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import MontemapServer
from montemap.testing.commands import run_montemap
from montemap.workflows import worker_crashes
from montemap.workflows.worker_crashes import LIMIT, CrashLoop

pytestmark = pytest.mark.timeout(240)

#: On the tasks' ``PYTHONPATH``: a worker process (``python -m montemap.cli worker``)
#: exits with an error as it starts, as one whose environment is broken would.
_BROKEN = """
import os, sys
if sys.argv[1:2] == ["worker"]:
    print("worker: this environment is broken (test)", file=sys.stderr, flush=True)
    os._exit(3)
"""


def test_run_stops_when_every_worker_task_exits_as_it_starts(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_BROKEN)
    data = (tmp_path / "montemap-data").resolve()
    env = {"PYTHONPATH": str(site), "MONTEMAP_ECS_WARM_TASKS": "0"}
    done = run_montemap(
        "run", "--data-dir", str(data), "--loans", "30", "--workers", "1", "--name", "crashing",
        "--quiet", timeout=200, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("montemap: error: stopped crashing: the worker tasks exit as")
    assert f"({LIMIT} in a row" in done.stderr and "with exit code 3" in done.stderr
    assert "worker: this environment is broken (test)" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    server = MontemapServer(data)  # what the run left: nothing running
    server.start()
    try:
        arn = "arn:aws:states:us-east-1:123456789012:execution:montemap-data-processing:crashing"
        assert server.client().describe_execution(executionArn=arn)["status"] == "ABORTED"
        ecs = server.client("ecs")
        service = ecs.describe_services(cluster="default", services=["montemap-workers"])
        assert service["services"][0]["desiredCount"] == 0
    finally:
        server.close()


class _Ecs:
    """ListTasks and DescribeTasks answering the given stopped tasks."""

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks = tasks

    def get_paginator(self, name: str) -> Any:
        assert name == "list_tasks"
        tasks = self.tasks

        class Pages:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                assert kwargs["desiredStatus"] == "STOPPED"
                return [{"taskArns": [t["taskArn"] for t in tasks]}]

        return Pages()

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [t for t in self.tasks if t["taskArn"] in tasks]}


T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _task(n: int, code: int | None, ran: float) -> dict[str, Any]:
    started = T0 + timedelta(seconds=20 * n)
    return {
        "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/default/t{n}",
        "containers": [{"exitCode": code}],
        "startedAt": started,
        "stoppedAt": started + timedelta(seconds=ran),
        "stoppedReason": "Essential container in task exited",
    }


def test_a_loop_is_the_last_tasks_each_exiting_with_an_error_as_they_start() -> None:
    quick = [_task(n, 1, 0.5) for n in range(LIMIT)]
    found = worker_crashes.crash_loop(_Ecs(quick), T0.timestamp())
    assert found == CrashLoop("t4", 1, "Essential container in task exited")


@pytest.mark.parametrize(
    ("tasks", "why"),
    [
        ([_task(n, 1, 0.5) for n in range(LIMIT - 1)], "fewer tasks than the limit"),
        ([*(_task(n, 1, 0.5) for n in range(LIMIT - 1)), _task(9, 1, 30.0)], "one ran a while"),
        ([*(_task(n, 1, 0.5) for n in range(LIMIT - 1)), _task(9, -9, 0.5)], "one was killed"),
        ([*(_task(n, 1, 0.5) for n in range(LIMIT - 1)), _task(9, 137, 0.5)], "killed (137)"),
        ([*(_task(n, 1, 0.5) for n in range(LIMIT - 1)), _task(9, 0, 0.5)], "one ended well"),
        ([_task(n, 1, 0.5) for n in range(LIMIT)], "all before the run began"),
    ],
)
def test_no_loop(tasks: list[dict[str, Any]], why: str) -> None:
    since = T0.timestamp() + (10_000 if why == "all before the run began" else 0)
    assert worker_crashes.crash_loop(_Ecs(tasks), since) is None, why
