"""``montemap run`` and executions of the data-processing workflow already running.

A run killed outright (SIGKILL, out of memory, a lost machine) leaves its execution
RUNNING in the data directory; the next run's embedded server resumed it, and it shared
the one worker service with the new run, and scaled it in, when its own map ended, under
the new run's batches. The next run now stops it first and says so; a ``--server`` that
is running another run's execution is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.testing import MontemapServer
from montemap.testing.commands import run_montemap
from montemap.workflows.client import Clients, RunSpec, WorkflowClient

pytestmark = pytest.mark.timeout(150)

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:montemap-data-processing:"


def _start_elsewhere(server: MontemapServer, name: str) -> WorkflowClient:
    """A data-processing execution started on ``server`` by another client."""
    client = WorkflowClient(Clients.for_endpoint(server.url))
    client.install()
    spec = RunSpec(
        name=name, loans=30, layout="realistic", workers=1, task_definition="small",
        cpu_units=256, memory_mib=512, shocks_bp=[0], paths=5, seed=1, as_of="2026-01-01",
        batch_size=10,
    )  # fmt: skip
    client.start(spec)
    return client


@pytest.fixture
def portfolio_server(
    server_factory: Callable[..., MontemapServer], monkeypatch: pytest.MonkeyPatch
) -> MontemapServer:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    server = server_factory(extra_args=["--no-cgroups"])
    generated = run_montemap(
        "generate", "--loans", "30", "--data-dir", str(server.data_dir), "--quiet"
    )
    assert generated.returncode == 0, generated.stderr
    return server


def test_run_stops_the_execution_a_killed_run_left_running(
    portfolio_server: MontemapServer,
) -> None:
    _start_elsewhere(portfolio_server, "killed")
    portfolio_server.kill()  # as the killed run's embedded server died with it
    data = Path(portfolio_server.data_dir)
    done = run_montemap(
        "run", "--data-dir", str(data), "--workers", "1", "--paths", "5", "--shocks", "0",
        "--batch-size", "10", "--name", "fresh", "--quiet", "--no-cgroups", timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stopped killed: left running by an earlier run that was killed\n" in done.stderr, (
        done.stderr
    )
    assert "fresh: SUCCEEDED" in done.stdout
    portfolio_server.start()
    sfn = portfolio_server.client()
    described = sfn.describe_execution(executionArn=EXECUTION + "killed")
    assert described["status"] == "ABORTED"
    assert described["cause"] == "left running by a montemap run that did not end"
    assert sfn.describe_execution(executionArn=EXECUTION + "fresh")["status"] == "SUCCEEDED"


def test_run_refuses_a_server_running_another_run(
    portfolio_server: MontemapServer, tmp_path: Path
) -> None:
    other = _start_elsewhere(portfolio_server, "other")
    try:
        done = run_montemap(
            "run", "--server", portfolio_server.url, "--data-dir", str(tmp_path / "client"),
            "--paths", "5", "--name", "second", "--quiet", timeout=60,
            env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
        )  # fmt: skip
    finally:
        other.stop(EXECUTION + "other")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == (
        f"montemap: error: the server at {portfolio_server.url} is running other of the "
        "data-processing workflow, which shares its worker service: wait for it to end, or "
        "stop it (aws stepfunctions stop-execution)\n"
    )
    executions = portfolio_server.client().list_executions(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:montemap-data-processing"
    )["executions"]
    assert [e["name"] for e in executions] == ["other"]
