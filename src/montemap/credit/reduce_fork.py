"""A second process for a pass over numbered items: a fork of this process that takes
items from the back of the range while this process takes them from the front.

The reduction's first pass is Python bound (the GIL): its reading thread and its
summing thread share one core, so the pass left the second core idle. A fork starts in
milliseconds with every module already imported, where a spawned interpreter would
spend ~0.5 s importing NumPy and PyArrow before its first item.

:class:`Split` shares the positions ``0 .. count-1`` between the two processes through
a small file that both map, under a POSIX record lock (``lockf``: the kernel releases it
when its holder dies, so a killed helper cannot leave it held). Each position goes to
exactly one side: this process takes them in order from 0 (:meth:`Split.take_front`),
the helper from ``count - 1`` down (:meth:`Split.take_back`), until they meet. A helper
that fails gives its side up (:meth:`Split.give_up`): this process then takes every
position from where it is, and whatever the helper did is thrown away.

:class:`ForkedHelper` runs the helper: the child asks the kernel to kill it when the
thread that forked it ends (``PR_SET_PDEATHSIG``), so it never outlives a killed parent;
it never unwinds the parent's stack (it leaves with ``os._exit`` whatever happens), its
result is pickled to a file, and :meth:`ForkedHelper.close` kills and reaps it on every
other way out. A helper still running ``PATIENCE`` seconds after this process finished
its side is taken for hung and killed (its items are then done here). :class:`Helping`
gives a helper a folder of its own. Linux only (:func:`can_fork`).
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import mmap
import os
import pickle
import select
import shutil
import signal
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: front (next position this process takes), back (lowest the helper took), given up
_STATE = struct.Struct("<qqq")
_PR_SET_PDEATHSIG = 1
#: Seconds :meth:`ForkedHelper.result` waits for the helper (once this process is done,
#: the helper has at most one item left, a batch read in milliseconds): a helper still
#: running then is taken for hung (stopped, or locked up by something the fork copied)
#: and killed; its items are read here, so a wrong guess costs only time.
PATIENCE = 30.0


def can_fork() -> bool:
    """Whether a helper can be forked here (Linux: it needs ``PR_SET_PDEATHSIG``)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and _PRCTL is not None


class Split:
    """Positions ``0 .. count-1`` shared by this process (from the front) and a forked
    helper (from the back), each taken once; kept in ``path`` (created, mapped)."""

    def __init__(self, path: Path, count: int) -> None:
        self.count = count
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(self._fd, _STATE.size)
            self._map = mmap.mmap(self._fd, _STATE.size)
        except BaseException:
            os.close(self._fd)
            raise
        _STATE.pack_into(self._map, 0, 0, count, 0)

    @contextmanager
    def _locked(self) -> Iterator[tuple[int, int, int]]:
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            yield _STATE.unpack_from(self._map)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def take_front(self, position: int) -> bool:
        """Take ``position`` (the next one from the front) if the helper has not taken
        it, or has given up; ``False``: the helper took the rest."""
        with self._locked() as (_, back, given_up):
            if position < back or given_up:
                _STATE.pack_into(self._map, 0, position + 1, back, given_up)
                return True
            return False

    def take_back(self) -> int | None:
        """The helper's next position (going down), or ``None`` when the two sides met."""
        with self._locked() as (front, back, given_up):
            if given_up or back - 1 < front:
                return None
            _STATE.pack_into(self._map, 0, front, back - 1, given_up)
            return back - 1

    def give_up(self) -> None:
        """The helper failed: the front takes every position from now on."""
        with self._locked() as (front, back, _):
            _STATE.pack_into(self._map, 0, front, back, 1)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class ForkedHelper:
    """``work()`` in a forked child (started by :meth:`start`), its value pickled to
    ``result``; :meth:`result` waits for it, :meth:`close` kills and reaps it if it still
    runs. The child gives ``split`` up when ``work`` fails."""

    def __init__(self, split: Split, work: Callable[[], Any], result: Path) -> None:
        self.split = split
        self._work = work
        self._result = result
        self._pid: int | None = None

    def start(self) -> None:
        """Fork the helper (``OSError`` where the system cannot)."""
        parent = os.getpid()
        # Python 3.12+ warns of any fork beside other threads; the helper takes none of
        # their locks (it reads files and takes the split's lock)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the helper: never returns
            _helper_main(parent, self.split, self._work, self._result)
        self._pid = pid

    def result(self) -> Any | None:
        """Wait for the helper to end (``PATIENCE`` seconds at most: it is killed then);
        its value, or ``None`` when it failed or was killed."""
        if self._pid is not None and not _ends_within(self._pid, PATIENCE):
            self._reap(kill=True)
            return None
        self._reap(kill=False)
        try:
            with open(self._result, "rb") as f:
                return pickle.load(f)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        """Kill the helper if it still runs, and wait for it (no effect once reaped)."""
        self._reap(kill=True)

    def _reap(self, *, kill: bool) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        try:
            if kill:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # reaped already (SIGCHLD ignored, or waited for elsewhere)
        except BaseException:  # interrupted while waiting: never leave it running
            if not kill:
                self._pid = pid
                self._reap(kill=True)
            raise


class Helping:
    """A :class:`ForkedHelper` over ``count`` positions with a folder of its own (in
    ``root``: the split, its result, whatever its work writes there), removed by
    :meth:`close` unless :attr:`adopted` (its files then belong to the caller)."""

    def __init__(self, helper: ForkedHelper, folder: Path) -> None:
        self.helper, self.folder = helper, folder
        self.adopted = False

    @classmethod
    def start(cls, root: Path, count: int, work: Callable[[Split, Path], Any]) -> Helping | None:
        """Fork the helper: ``work(split, folder)`` runs in it. ``None`` where this process
        cannot fork now (memory, process limit)."""
        folder = Path(tempfile.mkdtemp(prefix="helper-", dir=root))
        try:
            split = Split(folder / "split", count)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        def run() -> Any:
            return work(split, folder)

        helping = cls(ForkedHelper(split, run, folder / "result.pickle"), folder)
        try:
            helping.helper.start()
        except BaseException as exc:
            helping.close()
            if isinstance(exc, OSError):
                return None
            raise
        return helping

    def close(self) -> None:
        """Kill and reap the helper if it still runs; remove its folder unless adopted."""
        try:
            self.helper.close()
        finally:
            self.helper.split.close()
            if not self.adopted:
                shutil.rmtree(self.folder, ignore_errors=True)


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether the child ``pid`` ends within ``seconds`` (``True`` where it cannot be
    watched: the caller then waits for it as it is)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here, or reaped already
        return True
    try:
        ready, _, _ = select.select([fd], [], [], seconds)
        return bool(ready)
    finally:
        os.close(fd)


def _helper_main(parent: int, split: Split, work: Callable[[], Any], result: Path) -> None:
    code = 1
    try:
        try:
            _detach(parent)
            value = work()
            partial = result.with_name(result.name + ".partial")
            with open(partial, "wb") as f:
                pickle.dump(value, f, pickle.HIGHEST_PROTOCOL)
            os.replace(partial, result)
            code = 0
        except BaseException:  # the parent does the work again and meets the error itself
            split.give_up()
    finally:
        os._exit(code)


def _detach(parent: int) -> None:
    """The helper's first steps: no collection of the parent's objects (they would be
    copied page by page), an end with the thread that forked it, the default action for
    the signals the parent handles in Python, and no wake-up descriptor of the parent's."""
    gc.freeze()
    if _PRCTL is None or _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the line above
        raise ProcessLookupError(parent)
    try:
        signal.set_wakeup_fd(-1)  # a signal here must not wake the parent's event loop
        for sig in (signal.SIGINT, signal.SIGTERM):
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
    except ValueError:  # not the main thread here: the handlers stay
        pass


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
