"""Helpers for the worker tests: real worker processes and waiting on conditions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

HERE = Path(__file__).resolve().parent
T = TypeVar("T")

#: Environment for worker processes: dummy credentials, no real AWS configuration.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def assert_eventually(
    condition: Callable[[], T | None],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Poll ``condition`` until it returns something truthy; that value. Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s: {what or condition}")
        time.sleep(interval)  # polling a condition with a deadline


def free_port() -> int:
    """A 127.0.0.1 TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def worker_command() -> list[str]:
    """How to start ``montemap worker``."""
    return [sys.executable, "-m", "montemap.cli", "worker"]


class WorkerProcess:
    """A ``montemap worker`` subprocess with its log in a file."""

    def __init__(self, log_path: Path, args: list[str], env: dict[str, str] | None = None):
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        full_env = {**os.environ, **DUMMY_AWS_ENV, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("AWS_PROFILE", None)
        self.proc = subprocess.Popen(
            [*worker_command(), "--app-dir", str(HERE), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker did not exit within {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


def history(client: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of an execution, oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def event_types(client: Any, execution_arn: str) -> list[str]:
    return [event["type"] for event in history(client, execution_arn)]


def finished(client: Any, execution_arn: str) -> dict[str, Any] | None:
    """The DescribeExecution reply once the execution is no longer RUNNING."""
    described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
    return None if described["status"] == "RUNNING" else described
