"""``montemap run`` stops, and says why, when its worker tasks can never be placed.

A task definition that needs more CPU or memory than the host has in all (a server
started with a small ``--capacity-cpu``) leaves every task PROVISIONING; ``run`` used to
wait at "workers 0/N" for ever, with the reason only in the service's events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.testing import MontemapServer
from montemap.testing.commands import run_montemap

pytestmark = pytest.mark.timeout(120)

ARN = "arn:aws:states:us-east-1:123456789012:execution:montemap-data-processing:too-big"


def test_run_stops_when_no_worker_task_can_be_placed(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    server = server_factory(extra_args=["--capacity-cpu", "100", "--no-cgroups"])
    data = Path(server.data_dir)
    generated = run_montemap("generate", "--loans", "30", "--data-dir", str(data), "--quiet")
    assert generated.returncode == 0, generated.stderr
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    done = run_montemap(
        "run", "--server", server.url, "--data-dir", str(tmp_path / "client"), "--workers", "2",
        "--paths", "5", "--name", "too-big", "--quiet", timeout=100, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(
        "montemap: error: stopped too-big: the worker tasks cannot start: "
        "(service montemap-workers) was unable to place a task because the task needs "
        "256 CPU units"
    ), done.stderr
    assert "--capacity-cpu" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert server.client().describe_execution(executionArn=ARN)["status"] == "ABORTED"
    services = server.client("ecs").describe_services(
        cluster="default", services=["montemap-workers"]
    )["services"]
    assert services[0]["desiredCount"] == 0 and services[0]["pendingCount"] == 0
