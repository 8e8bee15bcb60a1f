"""Ctrl-C (or SIGTERM, SIGHUP) during ``montemap run`` stops the execution and scales the
workers in: an execution left RUNNING would be resumed by the next run's server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from montemap.testing import MontemapServer, eventually

pytestmark = pytest.mark.timeout(240)


def _worker_pids(data: Path) -> list[int]:
    """Processes started from the run's worker task definitions (by their data dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"worker" in cmd and f"MONTEMAP_DATA_DIR={data}".encode() in env:
            pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_ctrl_c_stops_the_execution_and_the_workers(tmp_path: Path, stop: signal.Signals) -> None:
    data = (tmp_path / "montemap-data").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "montemap.cli",
            "run",
            "--data-dir",
            str(data),
            "--loans",
            "6000",
            "--paths",
            "4000",
            "--workers",
            "1",
            "--batch-size",
            "100",
            "--name",
            "interrupted",
            "--as-of",
            "2026-06-30",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    batches = data / "buckets" / "montemap-results" / "runs" / "interrupted" / "batches"
    try:
        eventually(
            lambda: batches.is_dir() and any(batches.iterdir()),
            timeout=180,
            interval=0.1,
            what="the first batch",
        )
        assert _worker_pids(data), "a worker should be running"
        signalled = time.monotonic()
        run.send_signal(stop)
        out, err = run.communicate(timeout=60)
        stopping = time.monotonic() - signalled
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 128 + stop, out + err
    # The worker's batch in hand is reported (and refused) to the server before it stops:
    # the run used to stop the server first, and the worker retried its report until the
    # server's 30 s stop grace ended and killed it.
    assert stopping < 15, f"stopping took {stopping:.1f} s"
    assert "stopping the execution" in err and "Traceback" not in err
    eventually(lambda: not _worker_pids(data), timeout=30, interval=0.1, what="the workers to exit")

    server = MontemapServer(data)  # the same data, served again: what did the run leave?
    server.start()
    try:
        sfn, ecs = server.client(), server.client("ecs")
        arn = "arn:aws:states:us-east-1:123456789012:execution:montemap-data-processing:interrupted"
        assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
        services = ecs.describe_services(cluster="default", services=["montemap-workers"])
        assert services["services"][0]["desiredCount"] == 0
    finally:
        server.close()


#: ``montemap run`` with SIGTERM sent to itself the moment StartExecution is answered
#: (before, the signal's KeyboardInterrupt left ``client.start`` before its ARN was kept,
#: and the execution stayed RUNNING: the next run's server resumed it); with ``AGAIN``,
#: a second SIGTERM as it starts stopping the execution (``timeout`` sends SIGTERM to the
#: process, then to its group: the second one used to cut the stop short, exit 130 and
#: leave the execution RUNNING).
_SIGNALLED = """
import os, signal, sys
from montemap.workflows import client
started, stopped = client.WorkflowClient.start, client.WorkflowClient.stop
def start(self, spec):
    arn = started(self, spec)
    os.kill(os.getpid(), signal.SIGTERM)
    return arn
def stop(self, arn):
    if AGAIN:
        os.kill(os.getpid(), signal.SIGTERM)
    return stopped(self, arn)
client.WorkflowClient.start, client.WorkflowClient.stop = start, stop
from montemap.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("again", [False, True], ids=["as-it-starts", "and-again-while-stopping"])
def test_a_stop_signal_as_the_execution_starts_stops_it(tmp_path: Path, again: bool) -> None:
    data = (tmp_path / "montemap-data").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    script = f"AGAIN = {again}\n" + _SIGNALLED
    done = subprocess.run(
        [sys.executable, "-c", script, "run", "--data-dir", str(data),
         "--loans", "50", "--workers", "1", "--name", "signalled", "--quiet"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 128 + signal.SIGTERM, done.stdout + done.stderr
    assert "stopping the execution" in done.stderr and "Traceback" not in done.stderr
    server = MontemapServer(data)
    server.start()
    try:
        arn = "arn:aws:states:us-east-1:123456789012:execution:montemap-data-processing:signalled"
        assert server.client().describe_execution(executionArn=arn)["status"] == "ABORTED"
    finally:
        server.close()
