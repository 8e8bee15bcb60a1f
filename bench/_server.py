"""Starting and measuring a ``montemap server`` for the benchmarks (one helper for all of them).

A benchmark starts a real server on a free loopback port with its own data
directory, optionally from another source tree (``src``: a copy of ``src/``
taken before a change, for before/after runs) or under cProfile, waits for
``/health``, reads the server's CPU time from ``/proc`` while it works, and
stops it (SIGTERM, then SIGKILL after ``grace`` seconds), removing the data
directory it made::

    with running_server(src=None) as (port, server):
        cpu = cpu_seconds(server.pid)
        ...
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def busy_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (``/proc/stat``: all but idle
    and iowait): over a command that has the machine to itself, every process it starts
    and the kernel's work for them."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    user, system = cpu_times(pid)
    return user + system


def start_server(
    port: int,
    data_dir: str,
    src: str | None = None,
    prefix: Sequence[str] = (),
    *,
    profile: str | None = None,
    extra_args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """A server on ``port``; ``src``: the montemap under that src dir; ``profile``: cProfile file.

    ``prefix`` goes before the interpreter (``valgrind --tool=callgrind ...``).
    """
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    # Trees from before the commands moved to each package's cli.py name it api.command.
    older = src is not None and not Path(src, "montemap", "api", "cli.py").exists()
    runner = [*prefix, sys.executable, *(("-m", "cProfile", "-o", profile) if profile else ())]
    return subprocess.Popen(
        [
            *runner,
            *("-m", "montemap.api.command" if older else "montemap.api.cli"),
            *("--port", str(port), "--data-dir", data_dir, "--log-level", "warning"),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
    )


def wait_healthy(port: int, server: subprocess.Popen[bytes] | None, timeout: float = 90) -> None:
    """Wait until the server answers ``/health`` (a loaded machine starts it slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"server exited with status {server.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not become healthy in {timeout:.0f} s")


def stop_server(
    server: subprocess.Popen[bytes], data_dir: str | None = None, *, grace: float = 60.0
) -> None:
    """SIGTERM (a cProfile run writes its file then), SIGKILL after ``grace``; remove data."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(grace)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def running_server(
    src: str | None = None,
    prefix: Sequence[str] = (),
    *,
    profile: str | None = None,
    extra_args: Sequence[str] = (),
    data_prefix: str = "montemap-bench-",
    grace: float = 60.0,
    health_timeout: float = 90.0,
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``(port, process)`` of a healthy server on a fresh data directory, stopped on exit
    (``health_timeout``: how long it may take to start, longer under valgrind)."""
    data_dir = tempfile.mkdtemp(prefix=data_prefix)
    port = free_port()
    server = start_server(port, data_dir, src, prefix, profile=profile, extra_args=extra_args)
    try:
        wait_healthy(port, server, health_timeout)
        yield port, server
    finally:
        stop_server(server, data_dir, grace=grace)
