"""Ctrl-C during ``montemap generate`` is one line, and leaves the empty data directory it
started from: an incomplete portfolio (objects, no inventory) made the next ``montemap run``
refuse the directory."""

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


def test_ctrl_c_during_generate_is_one_line_and_leaves_no_partial_portfolio(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    objects = data / "buckets" / "montemap-source" / "data"
    command = ["generate", "--data-dir", str(data), "--loans", "3000000", "--quiet"]
    gen = subprocess.Popen(
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
            interval=0.05,
            what="the first loan objects",
        )
        gen.send_signal(signal.SIGINT)
        out, err = gen.communicate(timeout=60)
    finally:
        if gen.poll() is None:
            gen.kill()
    assert gen.returncode == 130, out + err
    assert err.strip() == "montemap: interrupted" and "Traceback" not in err
    source = data / "buckets" / "montemap-source"
    assert not [p for p in source.rglob("*") if p.is_file()]
    assert not (data / "portfolio.json").exists()
    # the directory is usable as it was: the next generate needs no --force
    generate(local_destination(data), 5)


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
