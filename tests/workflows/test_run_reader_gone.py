"""``montemap run 2>&1 | head -2``: the reader goes away while the run goes on. The run
finishes and records its results (the progress line stops being shown); only printing
them fails, quietly. Before, the next progress line's broken pipe ended the run
between its execution's end and its ``run.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)


def test_the_run_outlives_a_reader_that_stops_early(tmp_path: Path) -> None:
    data = (tmp_path / "montemap-data").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    command = ["run", "--data-dir", str(data), "--loans", "400", "--paths", "50"]
    command += ["--workers", "1", "--name", "piped", "--as-of", "2026-06-30"]
    run = subprocess.Popen(
        [sys.executable, "-m", "montemap.cli", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert run.stdout is not None
        first = [run.stdout.readline(), run.stdout.readline()]
        run.stdout.close()  # as head does once it has its lines
        assert run.wait(timeout=150) == 1
    finally:
        if run.poll() is None:
            run.kill()
    assert first[0].startswith("generating 400 loans"), first
    record = json.loads((data / "runs" / "piped" / "run.json").read_text())
    assert record["status"] == "SUCCEEDED"
