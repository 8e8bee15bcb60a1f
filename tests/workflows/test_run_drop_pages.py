"""``montemap run``'s workers drop each loan object's pages once read when the server's
environment says so (``MONTEMAP_DROP_OBJECT_PAGES=1``, which ``montemap run`` sets for a
portfolio too large to stay cached): real worker tasks, forked by the embedded server's
ECS service, take the variable from it. Residency is read with ``mincore``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from montemap.credit.objects import Item
from montemap.storage import LocalObjectStore
from tests.credit.test_objects_cold import _make_cold
from tests.credit.test_objects_drop import _resident_count

pytestmark = pytest.mark.timeout(300)

SOURCE = "montemap-source"
COMMAND = [sys.executable, "-m", "montemap.cli", "run", "--workers", "1", "--quiet"]
PARAMS = ["--paths", "50", "--seed", "3", "--as-of", "2026-06-30", "--shocks", "0,100"]


def _run(data: Path, name: str, drop: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    if drop is not None:
        env["MONTEMAP_DROP_OBJECT_PAGES"] = drop
    done = subprocess.run(
        [*COMMAND, "--data-dir", str(data), "--loans", "300", "--name", name, *PARAMS],
        cwd=data.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{name}: SUCCEEDED" in done.stdout


def test_the_workers_of_run_drop_object_pages_when_told(tmp_path: Path) -> None:
    data = tmp_path / "montemap-data"
    _run(data, "generated", None)  # generates the portfolio, then simulates it
    store = LocalObjectStore(data / "buckets")
    root = data / "buckets" / SOURCE
    items = [
        Item(SOURCE, str(path.relative_to(root)))
        for path in sorted(root.rglob("*.csv"))
        if "inventory" not in path.parts
    ]
    assert len(items) == 300
    _make_cold(store, items)  # skips where the page cache cannot be seen
    if _resident_count(store, items):
        pytest.skip("mincore reports dropped pages as resident here")
    _run(data, "dropping", "1")
    assert _resident_count(store, items) == 0  # each read once, then dropped
    _make_cold(store, items)
    _run(data, "keeping", "0")
    # read, and kept: the kernel may still reclaim a clean page meanwhile (this VM runs
    # DAMON's proactive reclaim: one page of 300 was once gone), never most of them
    assert _resident_count(store, items) >= 0.95 * len(items)
