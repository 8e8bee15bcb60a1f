"""``montemap run --server URL``: the same job on a server that is already running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from montemap.testing import MontemapServer

pytestmark = pytest.mark.timeout(240)


def test_run_against_a_running_server(server_factory: Callable[..., MontemapServer]) -> None:
    server = server_factory()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    data = Path(server.data_dir)

    def montemap(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "montemap.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=200,
            check=False,
        )

    generated = montemap(
        "generate",
        "--loans",
        "1200",
        "--seed",
        "2",
        "--as-of",
        "2026-03-31",
        "--data-dir",
        str(data),
        "--quiet",
    )
    assert generated.returncode == 0, generated.stderr
    done = montemap(
        "run",
        "--server",
        server.url,
        "--data-dir",
        str(data),
        "--loans",
        "1200",
        "--workers",
        "2",
        "--paths",
        "100",
        "--as-of",
        "2026-03-31",
        "--seed",
        "2",
        "--name",
        "remote-run",
        "--quiet",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "remote-run: SUCCEEDED" in done.stdout
    record = json.loads((data / "runs" / "remote-run" / "run.json").read_text())
    assert record["server"] == server.url and record["status"] == "SUCCEEDED"
    assert record["summary"]["loans"] > 0
    # the workflows stay registered on the server, usable like any state machine
    names = [m["name"] for m in server.client().list_state_machines()["stateMachines"]]
    assert {"montemap-data-processing", "montemap-data-generation"} <= set(names)
