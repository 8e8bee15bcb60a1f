"""``--shocks`` may start with a rate cut: ``--shocks -100,0,100``.

argparse took ``-100,0,100`` for an option and answered "argument --shocks: expected one
argument" (exit 2), so a cut could only be written ``--shocks=-100,0,100``.
"""

from __future__ import annotations

import json
from pathlib import Path

from montemap.cli import join_negative_lists
from montemap.testing.commands import run_montemap


def test_a_negative_list_is_joined_to_its_option() -> None:
    assert join_negative_lists(["run", "--shocks", "-100,0,+50", "--quiet"]) == [
        "run", "--shocks=-100,0,+50", "--quiet",
    ]  # fmt: skip
    assert join_negative_lists(["run", "--shocks", "-5"]) == ["run", "--shocks=-5"]
    # what is no list of numbers, and anything after --, stays as it was
    assert join_negative_lists(["run", "--shocks", "--quiet"]) == ["run", "--shocks", "--quiet"]
    assert join_negative_lists(["run", "--shocks"]) == ["run", "--shocks"]
    assert join_negative_lists(["x", "--", "--shocks", "-1,2"]) == ["x", "--", "--shocks", "-1,2"]


def test_simulate_takes_a_rate_cut(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    generated = run_montemap("generate", "--loans", "30", "--data-dir", str(data), "--quiet")
    assert generated.returncode == 0, generated.stderr
    done = run_montemap(
        "simulate", "--data-dir", str(data), "--out", str(out), "--shocks", "-100,0",
        "--paths", "5", "--no-report", "--workers", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "summary.json").read_text())["shocks_bp"] == [-100, 0]
