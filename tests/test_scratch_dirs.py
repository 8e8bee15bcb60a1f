"""Temporary directories left by killed processes are removed by the next one (real
processes, really killed), and nothing held, recent, linked or foreign is touched."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from montemap.credit.batch import handle_batch
from montemap.credit.reduce import handle_reduce
from montemap.scratch_dirs import OWNER_FILE, UNMARKED_MAX_AGE_S, owned_temp_dir, sweep_abandoned
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio

PREFIX = "montemap-test-"

_HOLDER = """
import sys, time
from pathlib import Path
from montemap.scratch_dirs import owned_temp_dir
with owned_temp_dir(sys.argv[1], root=Path(sys.argv[2])) as name:
    (Path(name) / "spill.bin").write_bytes(b"x" * 4096)
    print(name, flush=True)
    time.sleep(600)
"""


def _holder(root: Path, prefix: str = PREFIX) -> tuple[subprocess.Popen[str], Path]:
    """A real process holding a directory in ``root``, and that directory."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, prefix, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, "the holder did not start"
    return proc, Path(line)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()


def test_removed_at_the_end_of_the_block_and_on_an_error(tmp_path: Path) -> None:
    with owned_temp_dir(PREFIX, root=tmp_path) as name:
        folder = Path(name)
        assert folder.parent == tmp_path and folder.name.startswith(PREFIX)
        assert (folder / OWNER_FILE).read_text() == str(os.getpid())
        (folder / "a" / "b").mkdir(parents=True)
    assert not folder.exists()
    with pytest.raises(RuntimeError), owned_temp_dir(PREFIX, root=tmp_path) as name:
        raise RuntimeError(name)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holders_directory_goes_a_live_ones_stays(tmp_path: Path) -> None:
    killed, left = _holder(tmp_path)
    live, held = _holder(tmp_path)
    try:
        _kill(killed)
        assert (left / "spill.bin").exists()  # SIGKILL ran no clean-up
        with owned_temp_dir(PREFIX, root=tmp_path) as name:
            assert not left.exists()
            assert (held / "spill.bin").exists()
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
                [held.name, Path(name).name]
            )
    finally:
        _kill(live)
    assert sweep_abandoned(tmp_path, PREFIX) == [held.name]
    assert list(tmp_path.iterdir()) == []


def test_other_prefixes_links_files_and_recent_unmarked_directories_stay(tmp_path: Path) -> None:
    other = tmp_path / "montemap-other-x"
    other.mkdir()
    (other / OWNER_FILE).write_text("1")  # free lock, but not this prefix
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / OWNER_FILE).write_text("1")
    (tmp_path / f"{PREFIX}link").symlink_to(target)
    (tmp_path / f"{PREFIX}file").write_text("not a directory")
    recent = tmp_path / f"{PREFIX}recent"
    recent.mkdir()  # as an earlier version left it: no owner file
    old = tmp_path / f"{PREFIX}old"
    (old / "sub").mkdir(parents=True)
    now = time.time()
    os.utime(old, (now - UNMARKED_MAX_AGE_S - 60, now - UNMARKED_MAX_AGE_S - 60))
    assert sweep_abandoned(tmp_path, PREFIX, now=now) == [old.name]
    assert other.is_dir() and target.is_dir() and recent.is_dir()
    assert (tmp_path / f"{PREFIX}link").is_symlink() and (tmp_path / f"{PREFIX}file").is_file()


def test_a_sweep_while_a_directory_is_being_made_leaves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process sweeping at the instant this one locks its new directory's owner
    file (before that, the file is there but free) must not take it for abandoned."""
    real_flock = fcntl.flock
    swept: list[list[str]] = []
    calls: list[int] = []

    def flock_after_a_sweep(fd: int, operation: int) -> None:
        calls.append(fd)
        if len(calls) == 1:  # the first lock taken: the one of the directory being made
            swept.append(sweep_abandoned(tmp_path, PREFIX))
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_sweep)
    with owned_temp_dir(PREFIX, root=tmp_path) as name:
        assert swept == [[]]
        assert (Path(name) / OWNER_FILE).read_text() == str(os.getpid())
        assert sorted(p.name for p in Path(name).iterdir()) == [OWNER_FILE]


def test_a_missing_root_is_no_error(tmp_path: Path) -> None:
    assert sweep_abandoned(tmp_path / "absent", PREFIX) == []


def test_reduce_removes_what_a_killed_reduction_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reduction's own scratch directories (``montemap-reduce-*``, ``montemap-run-*``)
    left by killed processes go with the next reduction, which leaves none of its own."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    killed = [_holder(scratch, prefix) for prefix in ("montemap-reduce-", "montemap-run-")]
    for proc, _ in killed:
        _kill(proc)
    assert len(list(scratch.iterdir())) == 2
    store = LocalObjectStore(tmp_path / "buckets")
    store.create_bucket("src")
    keys = [f"d/{i:03d}.csv" for i in range(6)]
    for key, rec in zip(keys, portfolio(6), strict=True):
        store.put("src", key, csv_bytes([rec]))
    bi = {"output_bucket": "res", "output_prefix": "r", "paths": 20, "seed": 1}
    bi |= {"as_of": "2026-11-27", "shocks_bp": [0]}
    handle_batch(
        {"Items": [{"Bucket": "src", "Key": k} for k in keys], "BatchInput": bi}, None, store=store
    )
    out = handle_reduce(bi, None, store=store)
    assert out["loans"] + json.loads(store.get("res", "r/summary.json"))["matured"] == 6
    assert list(scratch.iterdir()) == []
