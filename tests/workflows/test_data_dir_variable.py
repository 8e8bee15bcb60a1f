"""``MONTEMAP_DATA_DIR`` is the default data directory of ``run`` and ``compare``, as it is
of ``generate`` and ``import``.

``MONTEMAP_DATA_DIR=/data montemap generate --loans 20000`` then ``montemap run`` used to
ignore the variable and generate 500,000 loans into ``./montemap-data``.
"""

from __future__ import annotations

from pathlib import Path

from montemap.testing.commands import run_montemap


def test_run_takes_the_portfolio_the_variable_names(tmp_path: Path) -> None:
    data, cwd = tmp_path / "data", tmp_path / "elsewhere"
    cwd.mkdir()
    env = {"MONTEMAP_DATA_DIR": str(data)}
    generated = run_montemap("generate", "--loans", "30", "--quiet", cwd=cwd, env=env)
    assert generated.returncode == 0, generated.stderr
    # --loans contradicting the portfolio there: refused before anything starts
    done = run_montemap("run", "--loans", "50", "--quiet", cwd=cwd, env=env, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(
        f"montemap: error: {data} holds generated portfolio of 30 loans (loans 30): --loans 50"
    ), done.stderr
    assert list(cwd.iterdir()) == []
    # an explicit --data-dir still wins
    other = run_montemap(
        "run", "--loans", "50", "--data-dir", str(data), "--quiet", cwd=cwd, env={}, timeout=60
    )
    assert other.returncode == 1 and str(data) in other.stderr, other.stderr


def test_compare_looks_for_runs_under_the_variable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "runs").mkdir(parents=True)
    done = run_montemap(
        "compare", "first", "second", cwd=tmp_path, env={"MONTEMAP_DATA_DIR": str(data)}
    )
    assert done.returncode == 1
    assert f"{data}/runs/first/run.json" in done.stderr, done.stderr
