"""Task processes: spawning them in their own process group, signalling, stopping many.

Each task is a process group of its own (``start_new_session``), so that a
stop reaches whatever the task's command started; on Linux the process gets
SIGTERM when the server's thread dies (``PR_SET_PDEATHSIG``).
:func:`stop_groups` stops many groups at once: SIGTERM to all, one shared
grace period, then SIGKILL to those still there.

:func:`spawn` is synchronous and cheap, so that the service manager starts a
scale-out's tasks in one pass without giving the event loop away between
them: it sets ``PR_SET_PDEATHSIG`` with util-linux's ``setpriv`` (which then
execs the command) rather than with a ``preexec_fn``, because a ``preexec_fn``
makes Python ``fork()`` the whole server (copying its page tables: ~65 ms
for a 400 MB server against ~3 ms for the ``vfork()`` it uses otherwise).
Where ``setpriv`` is missing it falls back to the ``preexec_fn``.
:func:`wait_exited` waits for an exit without a thread (a Linux ``pidfd``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1

#: ``prctl(2)``, resolved in the server so the forked child only calls it.
_PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the server's thread dies."""
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def process_start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group ``pid`` leads (nothing if it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@cache
def pdeathsig_wrapper() -> str | None:
    """util-linux's ``setpriv`` when it can set the parent-death signal, else None."""
    if _PRCTL is None:
        return None
    found = shutil.which("setpriv")
    if found is None:
        return None
    try:
        done = subprocess.run(
            [found, "--pdeathsig", "TERM", "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if done.returncode == 0 else None


def _executable(name: str, env: dict[str, str]) -> str:
    """``name`` resolved as ``exec`` would (the task's PATH); OSError if it cannot run."""
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is not None:
        return found
    if os.sep in name and os.path.exists(name):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def spawn(
    argv: list[str], env: dict[str, str], output: Any, *, pass_fds: Sequence[int] = ()
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, its output to ``output``; OSError if it cannot.

    ``pass_fds`` stay open in the process (every other descriptor but the
    standard three is closed).
    """
    wrapper = pdeathsig_wrapper()
    if wrapper is not None:
        argv = [wrapper, "--pdeathsig", "TERM", "--", _executable(argv[0], env), *argv[1:]]
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        pass_fds=pass_fds,
        preexec_fn=_die_with_parent if _PRCTL is not None and wrapper is None else None,
    )


async def wait_exited(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process`` to exit (without blocking the loop); its return code."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd (before Linux 5.3): a thread waits
        threading.Thread(target=_wait_and_tell, args=(process, loop, exited), daemon=True).start()
        await exited
        return process.wait()
    loop.add_reader(fd, _tell, exited)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return process.wait()


def _tell(exited: asyncio.Future[None]) -> None:
    if not exited.done():
        exited.set_result(None)


def _wait_and_tell(
    process: subprocess.Popen[bytes],
    loop: asyncio.AbstractEventLoop,
    exited: asyncio.Future[None],
) -> None:
    process.wait()
    with contextlib.suppress(RuntimeError):  # the loop closed first
        loop.call_soon_threadsafe(_tell, exited)


async def stop_groups(
    groups: Sequence[tuple[int, Callable[[], Awaitable[object]]]],
    grace: float,
    *,
    hurry: asyncio.Event | None = None,
) -> list[int]:
    """SIGTERM every ``(pid, wait_exited)`` group, wait ``grace`` for all (less if
    ``hurry`` is set meanwhile), SIGKILL the rest.

    Returns the pids that had to be killed.
    """
    for pid, _ in groups:
        signal_group(pid, signal.SIGTERM)
    waits = {pid: asyncio.ensure_future(wait()) for pid, wait in groups}
    if not waits:
        return []
    everything = asyncio.gather(*waits.values(), return_exceptions=True)
    watched: set[asyncio.Future[Any]] = {everything}
    if hurry is not None:
        watched.add(asyncio.ensure_future(hurry.wait()))
    try:
        await asyncio.wait(watched, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in watched - {everything}:
            future.cancel()
    pending = [fut for fut in waits.values() if not fut.done()]
    killed = [pid for pid, fut in waits.items() if not fut.done()]
    for pid in killed:
        signal_group(pid, signal.SIGKILL)
    if pending:
        await asyncio.wait(pending)
    return killed
