"""A task forked from the warm template becomes the process a fresh ``python -m`` would be.

:func:`become_task` runs in the child right after the template's ``fork()``
and never returns. It does what :func:`montemap.ecs.processes.spawn` gets
from ``setsid``, ``setpriv --pdeathsig TERM`` and ``exec``: a new session,
SIGTERM when its parent (the template) dies, standard input from
``/dev/null``, standard output and error to the task's log file, no other
descriptor open, the task's working directory and exactly the task's
environment (none of the template's variables), a fresh interpreter's
signal dispositions and an empty signal mask. Then it runs the module of
``python -m MODULE ARGS...`` as ``__main__`` and ends as the interpreter
would: an exit code from ``SystemExit`` (or 1 after a traceback), non-daemon
threads joined, ``atexit`` functions run, standard streams flushed, then
``os._exit``.

Like the template, it imports only the standard library.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import runpy
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

_PR_SET_PDEATHSIG = 1
#: ``prctl(2)``, resolved in the template so that a child only calls it.
_PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl

#: A signal disposition as :func:`signal.getsignal` reports it.
Disposition = Callable[[int, Any], Any] | int | signal.Handlers | None


def fresh_dispositions() -> dict[int, Disposition]:
    """Every signal's disposition now; the template calls it first, before changing any."""
    dispositions: dict[int, Disposition] = {}
    for sig in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            dispositions[sig] = signal.getsignal(sig)
    return dispositions


def become_task(
    argv: list[str],
    env: Mapping[str, str],
    cwd: str,
    log_fd: int | None,
    *,
    template_pid: int,
    dispositions: Mapping[int, Disposition],
    startup_dir: str,
) -> NoReturn:
    """Turn this forked child into the task ``python -m MODULE ARGS`` (``argv`` without python)."""
    code = 1
    try:
        os.setsid()
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != template_pid:  # the template died before the line above
            os._exit(1)
        _standard_streams(log_fd)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # tells the template this child is ready
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        _restore_signals(dispositions)
        _reseed_numpy()
        if not sys.flags.safe_path and sys.path and sys.path[0] == startup_dir:
            sys.path[0] = os.getcwd()  # where ``python -m`` puts the working directory
        code = _run_main(argv)
    except BaseException:  # anything before the module ran: say it, as Python would
        with contextlib.suppress(BaseException):
            sys.excepthook(*sys.exc_info())
    finally:
        _flush()
        os._exit(code)


def _standard_streams(log_fd: int | None) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    out = null if log_fd is None else log_fd
    os.dup2(out, 1)
    os.dup2(out, 2)


def _restore_signals(dispositions: Mapping[int, Disposition]) -> None:
    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig, disposition in dispositions.items():
        if disposition is None or signal.getsignal(sig) == disposition:
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, disposition)


def _reseed_numpy() -> None:
    """NumPy seeds its legacy global generator at import: a fresh process has its own seed."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _run_main(argv: list[str]) -> int:
    """Run ``-m MODULE ARGS`` as the interpreter would; the process's exit code."""
    if len(argv) < 2 or argv[0] != "-m":
        raise ValueError(f"a warm task runs 'python -m MODULE ...', not {argv!r}")
    sys.argv = ["-m", *argv[2:]]
    try:
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _finish()
    return code


def _exit_code(value: object) -> int:
    """``sys.exit(value)``'s process exit code."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    with contextlib.suppress(BaseException):
        print(value, file=sys.stderr)
    return 1


def _finish() -> None:
    """What the interpreter does at exit: join threads, run ``atexit``, flush."""
    shutdown = getattr(threading, "_shutdown", None)
    with contextlib.suppress(BaseException):
        if shutdown is not None:
            shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    _flush()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            if stream is not None:
                stream.flush()
