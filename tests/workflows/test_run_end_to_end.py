"""``montemap run`` end to end at small scale: exactly the default run's code path.

A real ``montemap run`` process: it generates the portfolio, starts the embedded
server, registers the shipped workflows, scales real worker processes through
the local ECS service, and writes the run's outputs. Its figures must equal
``montemap simulate`` on the same portfolio and parameters.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from montemap.testing.commands import run_montemap

pytestmark = pytest.mark.timeout(300)

PARAMS = ["--paths", "100", "--seed", "7", "--as-of", "2026-06-30", "--shocks", "0,150,300"]


def montemap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_montemap(*args, cwd=cwd)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir with a small run and a large run of the same job."""
    data = tmp_path_factory.mktemp("e2e") / "montemap-data"
    for name, taskdef in (("small-run", "small"), ("large-run", "large")):
        done = montemap(
            "run",
            "--data-dir",
            str(data),
            "--loans",
            "1500",
            "--workers",
            "2",
            "--task-definition",
            taskdef,
            "--name",
            name,
            "--quiet",
            *PARAMS,
            cwd=data.parent,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{name}: SUCCEEDED" in done.stdout
    return data


def test_run_writes_every_output(two_runs: Path) -> None:
    run_dir = two_runs / "runs" / "small-run"
    for name in ("summary.json", "loans.parquet", "rejects.csv", "report.html", "run.json"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["paths"] == 100 and summary["seed"] == 7
    assert [s["shock_bp"] for s in summary["scenarios"]] == [0, 150, 300]
    for sc in summary["scenarios"]:
        assert sc["var"]["0.999"] >= sc["var"]["0.99"] >= 0
        assert sc["es"]["0.99"] >= sc["var"]["0.99"]
    loans = pq.read_table(run_dir / "loans.parquet")
    assert loans.num_rows == summary["loans"] * 3
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "SUCCEEDED"
    assert record["task_definition"] == "small" and record["workers"] == 2
    assert record["cost"]["vcpu_seconds"] >= 2 * 0.25 * 60  # two tasks, one-minute minimum
    assert record["cost"]["usd"] > 0


def test_run_figures_equal_simulate(two_runs: Path) -> None:
    out = two_runs.parent / "simulated"
    done = montemap(
        "simulate",
        "--data-dir",
        str(two_runs),
        "--out",
        str(out),
        *PARAMS,
        "--workers",
        "2",
        cwd=two_runs.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    simulated = json.loads((out / "summary.json").read_text())
    engine_run = json.loads((two_runs / "runs" / "small-run" / "summary.json").read_text())
    for key in ("loans", "rejected", "paths", "seed"):
        assert engine_run[key] == simulated[key], key
    assert engine_run["scenarios"] == simulated["scenarios"]


def test_compare_two_runs(two_runs: Path) -> None:
    done = montemap(
        "compare", "small-run", "large-run", "--data-dir", str(two_runs), cwd=two_runs.parent
    )
    assert done.returncode == 0, done.stderr
    assert "Task definition" in done.stdout and "large" in done.stdout
    assert "as fast as A" in done.stdout
    page = two_runs / "runs" / "compare-small-run-large-run.html"
    assert "<table>" in page.read_text()


def test_compare_refuses_an_unknown_run(two_runs: Path) -> None:
    done = montemap(
        "compare", "small-run", "nope", "--data-dir", str(two_runs), cwd=two_runs.parent
    )
    assert done.returncode == 1
    assert "no run 'nope'" in done.stderr and "Traceback" not in done.stderr


def test_run_refuses_bad_options(tmp_path: Path) -> None:
    done = montemap(
        "run", "--data-dir", str(tmp_path), "--loans", "0", "--shocks", "a,b", cwd=tmp_path
    )
    assert done.returncode == 1
    assert "--loans must be at least 1" in done.stderr and "--shocks" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_name_already_run_is_one_clear_error(two_runs: Path) -> None:
    record = two_runs / "runs" / "small-run" / "run.json"
    before = record.read_bytes()
    done = montemap(
        "run", "--data-dir", str(two_runs), "--name", "small-run", "--quiet", *PARAMS,
        cwd=two_runs.parent,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # refused before the server starts: its outputs are there (tests/workflows/test_run_options.py)
    assert "already holds the outputs of a run named 'small-run'" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and "bug" not in done.stderr
    assert record.read_bytes() == before  # the earlier run's record is left alone
