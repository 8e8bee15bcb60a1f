"""A path option written ``--data-dir=~/x`` reaches montemap with its ``~`` (the shell
expands a tilde only at the start of a word): every command reads it as the home
directory, as ``generate`` and ``import`` did, instead of making a folder named ``~``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)


def _montemap(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path / "home"


def test_run_reads_a_tilde_data_dir_as_home(home: Path) -> None:
    earlier = home / "data" / "runs" / "q1"
    earlier.mkdir(parents=True)
    (earlier / "summary.json").write_text("{}\n")
    work = home.parent / "work"
    done = _montemap(home, work, "run", "--data-dir=~/data", "--name", "q1", "--quiet")
    assert done.returncode == 1, done.stderr
    assert str(earlier) in done.stderr and "already holds the outputs" in done.stderr
    assert not (work / "~").exists()


def test_compare_and_simulate_read_a_tilde_as_home(home: Path) -> None:
    work = home.parent / "work"
    generated = _montemap(home, work, "generate", "--data-dir=~/data", "--loans", "30")
    assert generated.returncode == 0, generated.stderr
    simulated = _montemap(
        home, work, "simulate", "--data-dir=~/data", "--out=~/sim", "--paths", "20",
        "--workers", "1", "--no-report",
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    assert (home / "sim" / "summary.json").exists()
    record = {
        "name": "r", "status": "SUCCEEDED", "duration_seconds": 1.5, "task_definition": "small",
        "workers": 1, "cost": {"vcpu_seconds": 60.0, "gb_seconds": 120.0, "usd": 0.0003},
    }  # fmt: skip
    (home / "data" / "runs" / "r").mkdir(parents=True)
    (home / "data" / "runs" / "r" / "run.json").write_text(json.dumps(record))
    compared = _montemap(home, work, "compare", "r", "~/data/runs/r", "--data-dir=~/data")
    assert compared.returncode == 0, compared.stderr
    assert (home / "data" / "runs" / "compare-r-r.html").exists()
    assert not (work / "~").exists()
