"""Finding 9: ``montemap run`` never replaces a portfolio it did not create.

Real ``montemap`` processes on a real data directory: an imported tape and a
generated portfolio are simulated as they are (objects untouched byte for
byte), and a ``--loans`` that contradicts the portfolio is refused in one line.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from montemap.testing.commands import run_montemap
from tests.credit.helpers import csv_bytes, portfolio

pytestmark = pytest.mark.timeout(300)

QUICK = ["--paths", "20", "--as-of", "2026-06-30", "--shocks", "0,100", "--workers", "1"]


def montemap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_montemap(*args, cwd=cwd)


def fingerprint(data_dir: Path) -> dict[str, str]:
    """SHA-256 of every object in the source bucket, by relative path."""
    source = data_dir / "buckets" / "montemap-source"
    return {
        str(path.relative_to(source)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(source.rglob("*"))
        if path.is_file()
    }


def test_an_imported_tape_is_simulated_as_it_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tape = tmp_path / "tape.csv"
    tape.write_bytes(csv_bytes(portfolio(300)))
    done = montemap("import", str(tape), "--data-dir", str(data), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((data / "portfolio.json").read_text())["origin"] == "imported"
    before = fingerprint(data)
    assert sum(key.startswith("data/") for key in before) == 300

    done = montemap("run", "--data-dir", str(data), "--name", "r1", "--quiet", *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generating" not in done.stdout
    assert fingerprint(data) == before
    summary = json.loads((data / "runs" / "r1" / "summary.json").read_text())
    assert summary["loans"] + summary["rejected"] + summary["matured"] == 300


def test_a_contradicting_loans_is_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tape = tmp_path / "tape.csv"
    tape.write_bytes(csv_bytes(portfolio(30)))
    assert montemap("import", str(tape), "--data-dir", str(data), cwd=tmp_path).returncode == 0
    before = fingerprint(data)
    done = montemap("run", "--data-dir", str(data), "--loans", "500", *QUICK, cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--loans 500 contradicts" in lines[0] and "30 loans" in lines[0]
    assert fingerprint(data) == before
    assert not (data / "runs").exists()


def test_the_simulation_seed_leaves_a_generated_portfolio_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = montemap(
        "generate", "--data-dir", str(data), "--loans", "200", "--portfolio-seed", "11",
        "--as-of", "2026-06-30", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    recorded = json.loads((data / "portfolio.json").read_text())
    assert recorded["origin"] == "generated" and recorded["seed"] == 11
    before = fingerprint(data)

    done = montemap(
        "run", "--data-dir", str(data), "--seed", "3", "--name", "r2", "--quiet", *QUICK,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert fingerprint(data) == before
    summary = json.loads((data / "runs" / "r2" / "summary.json").read_text())
    assert summary["seed"] == 3
    assert summary["loans"] + summary["rejected"] + summary["matured"] == 200
    refused = montemap(
        "run", "--data-dir", str(data), "--portfolio-seed", "12", *QUICK, cwd=tmp_path
    )
    assert refused.returncode == 1 and "--portfolio-seed 12 contradicts" in refused.stderr
    assert fingerprint(data) == before
