"""A real ``montemap server`` subprocess for tests: start, crash, stop, restart.

``MontemapServer`` runs the ``montemap server`` command (as
``python -m montemap.api.cli``, so that a broken sibling command cannot
stop it from starting) on a free 127.0.0.1 port with its own data directory,
and is ready once ``GET /health`` answers. Tests can ``kill()`` it (SIGKILL, as
a crash), ``stop()`` it (SIGTERM, graceful) and ``start()`` it again on the same
port and data directory, or use ``restart()``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from montemap.errors import MontemapError

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
#: Environment for subprocesses (the AWS CLI) that must not find real credentials.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
READY_TIMEOUT = 30.0
#: Health checks go straight to the server, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
POLL_INTERVAL = 0.05


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerError(MontemapError, RuntimeError):
    """The server did not start or stop as expected; carries its log."""


class MontemapServer:
    """One ``montemap server`` subprocess with its own data directory.

    ``host`` defaults to 127.0.0.1; another address (127.0.0.2) needs
    ``extra_args=["--allow-remote", ...]``. ``extra_args`` come last, so they
    override the defaults (``--log-level warning``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.extra_args = list(extra_args or [])
        self.env = env
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "montemap.api.cli",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            *self.extra_args,
        ]

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Launch the server and wait until ``/health`` answers."""
        if self.running:
            raise ServerError("server already running")
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill/close
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        self.wait_ready(timeout)

    def health(self) -> dict[str, Any] | None:
        """The health document, or None while the server does not answer."""
        try:
            with _DIRECT.open(f"{self.url}/health", timeout=1.0) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def metrics(self) -> dict[str, Any]:
        """The server's ``/metrics`` document (counters, running executions, waiting
        activity polls, workers)."""
        with _DIRECT.open(f"{self.url}/metrics", timeout=5.0) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise ServerError(f"server exited during startup:\n{self.log_text()}")
            if self.health() is not None:
                return
            time.sleep(POLL_INTERVAL)  # polling a condition, not a fixed wait
        raise ServerError(f"server not ready after {timeout} s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Ask the server to shut down (SIGTERM by default); its exit code."""
        proc = self._require_proc()
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ServerError(f"server ignored signal {sig} for {timeout} s:\n{self.log_text()}")
        finally:
            self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL the server, as a crash would end it."""
        proc = self._require_proc()
        proc.kill()
        proc.wait()
        self._close_log()

    def restart(self, *, crash: bool = False) -> None:
        """Stop (or kill, with ``crash``) and start again on the same port and data."""
        if self.running:
            if crash:
                self.kill()
            else:
                self.stop()
        self.start()

    def client(self, service: str = "stepfunctions", **config: Any) -> Any:
        """A boto3 client for this server (dummy credentials, no retries)."""
        options: dict[str, Any] = {
            "retries": {"total_max_attempts": 1, "mode": "standard"},
            "connect_timeout": 5,
            "read_timeout": 75,
        }
        options.update(config)
        session: Any = boto3.session.Session()
        return session.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            config=Config(**options),
            **DUMMY_CREDENTIALS,
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Stop the server if it runs (killing it if it does not stop)."""
        if self.running:
            try:
                self.stop(timeout=10.0)
            except ServerError:
                pass
        self._close_log()

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise ServerError("server was never started")
        return self.proc

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
