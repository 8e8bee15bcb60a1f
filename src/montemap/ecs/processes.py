"""Task processes: spawning them in their own process group, signalling, stopping many.

Each task is a process group of its own (``start_new_session``), so that a
stop reaches whatever the task's command started; on Linux the process gets
SIGTERM when the server's thread dies (``PR_SET_PDEATHSIG``).
:func:`stop_groups` stops many groups at once: SIGTERM to all, one shared
grace period, then SIGKILL to those still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
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


async def spawn(argv: list[str], env: dict[str, str], output: Any) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session, its output to ``output``; OSError if it cannot."""
    import subprocess

    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if _PRCTL is not None else None,
    )


async def stop_groups(
    groups: Sequence[tuple[int, Callable[[], Awaitable[object]]]], grace: float
) -> list[int]:
    """SIGTERM every ``(pid, wait_exited)`` group, wait ``grace`` for all, SIGKILL the rest.

    Returns the pids that had to be killed.
    """
    for pid, _ in groups:
        signal_group(pid, signal.SIGTERM)
    waits = {pid: asyncio.ensure_future(wait()) for pid, wait in groups}
    if not waits:
        return []
    _, pending = await asyncio.wait(waits.values(), timeout=grace)
    killed = [pid for pid, fut in waits.items() if fut in pending]
    for pid in killed:
        signal_group(pid, signal.SIGKILL)
    if pending:
        await asyncio.wait(pending)
    return killed
