"""A second stop signal while ``montemap run`` is stopping its execution does not cut the
stop short. ``timeout`` sends SIGTERM twice (to the process, then to its process group):
the second one used to escape the stop as a KeyboardInterrupt, so ``run`` exited 130 and
left the execution RUNNING, for the next run's server to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from montemap.testing import MontemapServer

pytestmark = pytest.mark.timeout(240)

#: ``montemap run`` that sends itself SIGTERM as StartExecution is answered, and again as
#: it starts stopping the execution.
_TWO_SIGNALS = """
import os, signal, sys
from montemap.workflows import client
started, stopped = client.WorkflowClient.start, client.WorkflowClient.stop
def start(self, spec):
    arn = started(self, spec)
    os.kill(os.getpid(), signal.SIGTERM)
    return arn
def stop(self, arn):
    os.kill(os.getpid(), signal.SIGTERM)
    return stopped(self, arn)
client.WorkflowClient.start, client.WorkflowClient.stop = start, stop
from montemap.cli import main
sys.exit(main())
"""


def test_a_second_signal_while_stopping_still_stops_the_execution(tmp_path: Path) -> None:
    data = (tmp_path / "montemap-data").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    done = subprocess.run(
        [sys.executable, "-c", _TWO_SIGNALS, "run", "--data-dir", str(data),
         "--loans", "50", "--workers", "1", "--name", "twice", "--quiet"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 128 + signal.SIGTERM, done.stdout + done.stderr
    assert "stopping the execution" in done.stderr and "Traceback" not in done.stderr
    server = MontemapServer(data)
    server.start()
    try:
        arn = "arn:aws:states:us-east-1:123456789012:execution:montemap-data-processing:twice"
        assert server.client().describe_execution(executionArn=arn)["status"] == "ABORTED"
    finally:
        server.close()
