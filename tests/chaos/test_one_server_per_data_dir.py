"""One server per data directory: a second is refused in one line; a killed one frees it.

Two servers on one data directory would both resume its executions and both drive its
worker service (one scaling out what the other stops). The first server holds an
exclusive lock on ``montemap.lock`` for as long as its process lives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from montemap.datadir_lock import LOCK_FILE, DataDirInUse, DataDirLock
from montemap.testing import MontemapServer


def test_a_second_server_is_refused_and_a_killed_one_frees_the_directory(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = MontemapServer(data)
    second = MontemapServer(data)
    try:
        first.start()
        assert first.proc is not None
        done = subprocess.run(second.command(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"in use by another montemap server (pid {first.proc.pid})" in lines[0]
        assert str(data.resolve()) in lines[0]
        assert first.health() is not None  # the first one goes on serving
        first.stop(signal.SIGKILL)  # no clean shutdown: the lock goes with the process
        second.start()
        assert second.health() is not None
    finally:
        second.close()
        first.close()


def test_the_lock_is_the_processes_not_its_children(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    # a child started while the lock is held does not inherit it (close-on-exec) ...
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(DataDirInUse, match=f"pid {os.getpid()}"):
            DataDirLock(tmp_path)
        lock.release()
        lock.release()  # idempotent
        again = DataDirLock(tmp_path)  # ... so releasing ours frees the directory
        again.release()
    finally:
        child.kill()
        child.wait()
    assert (tmp_path / LOCK_FILE).is_file()  # the file stays; only the lock goes


def test_run_takes_the_directory_before_it_generates_a_portfolio(tmp_path: Path) -> None:
    # Another process's server (here: this test) holds the empty directory: ``montemap
    # run`` must be refused before it generates, or two runs started together on an empty
    # directory would both generate into it.
    data = tmp_path / "data"
    data.mkdir()
    held = DataDirLock(data)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "montemap.cli", "run", "--data-dir", str(data), "--loans", "50"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        held.release()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"in use by another montemap server (pid {os.getpid()})" in done.stderr
    assert not (data / "buckets").exists(), "nothing generated"
    assert not (data / "portfolio.json").exists()


def test_run_keeps_the_directory_for_its_server_and_frees_it(tmp_path: Path) -> None:
    from montemap.workflows.embedded import EmbeddedServer

    data = tmp_path / "data"
    data.mkdir()
    lock = DataDirLock(data)
    server = EmbeddedServer(data, cgroups=False, data_dir_lock=lock)
    server.start()
    try:
        assert server.montemap.lock is lock  # the caller's lock, not a second one
        with pytest.raises(DataDirInUse):
            DataDirLock(data)
    finally:
        server.stop()
    DataDirLock(data).release()  # the server released it as it stopped
