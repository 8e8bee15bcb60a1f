"""Ctrl-C, SIGTERM (``timeout``, ``docker stop``) or SIGHUP (a closed terminal) during
``montemap generate`` or ``montemap import`` stops it with one line, exit 128 + the
signal, and none of the objects it had written left behind (a partial portfolio, objects
without an inventory, made the next ``montemap run`` refuse the directory); a write that
fails leaves a destination it found occupied alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from montemap.credit.generator import generate
from montemap.credit.portfolio import local_destination
from montemap.testing import eventually

pytestmark = pytest.mark.timeout(120)


def _stopped_midway(data: Path, command: list[str], stop: signal.Signals) -> str:
    """Run ``montemap COMMAND``, send ``stop`` once its first objects are written; stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    objects = data / "buckets" / "montemap-source" / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "montemap.cli", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(
            lambda: objects.is_dir() and any(objects.iterdir()),
            timeout=60,
            interval=0.02,
            what="the first loan objects",
        )
        process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + stop, out + err
    return err


def _files(data: Path) -> list[Path]:
    return [p for p in (data / "buckets" / "montemap-source").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_during_generate_leaves_no_partial_portfolio(
    tmp_path: Path, stop: signal.Signals
) -> None:
    data = tmp_path / "data"
    command = ["generate", "--data-dir", str(data), "--loans", "3000000", "--quiet"]
    err = _stopped_midway(data, command, stop)
    said = "interrupted" if stop == signal.SIGINT else f"stopped by {stop.name}"
    assert err.strip() == f"montemap: {said}" and "Traceback" not in err
    assert not _files(data) and not (data / "portfolio.json").exists()
    generate(local_destination(data), 5)  # no --force needed: the directory is as it was


def test_sigterm_during_import_leaves_no_partial_portfolio(tmp_path: Path) -> None:
    tape = tmp_path / "tape.csv"
    generate(local_destination(tmp_path / "seed"), 1)
    row = next((tmp_path / "seed").rglob("data-gen-*.csv")).read_text().splitlines()
    with tape.open("w") as f:
        f.write(row[0] + "\n")
        values = row[1].split(",")
        for account in range(1, 400_001):
            values[0] = str(account)
            f.write(",".join(values) + "\n")
    data = tmp_path / "data"
    err = _stopped_midway(data, ["import", str(tape), "--data-dir", str(data)], signal.SIGTERM)
    assert err.strip() == "montemap: stopped by SIGTERM"
    assert not _files(data) and not (data / "portfolio.json").exists()


def test_a_write_that_fails_into_an_occupied_destination_leaves_it_alone(
    tmp_path: Path,
) -> None:
    dest = local_destination(tmp_path)
    generate(dest, 5)
    source = tmp_path / "buckets" / "montemap-source"
    before = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    with pytest.raises(Exception, match="already holds a portfolio"):
        generate(dest, 7)
    after = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    assert after == before
