"""Who may read or replace a data directory's portfolio, and when.

``montemap generate`` and ``montemap import`` (``--force`` included) write the portfolio
of a data directory; ``montemap simulate --data-dir`` and ``montemap run`` read it, object
by object, for as long as they run. A portfolio replaced meanwhile would be read half
old, half new (or not found), so both sides hold an ``flock`` on the data directory
itself: the writer an exclusive one for the whole write (from before it removes the old
objects to after its manifest is written), each reader a shared one for the whole run.
Neither waits: whichever comes second is refused in one line (:class:`PortfolioBusy`).

The lock is taken on the directory, not on a file in it: a refused ``generate`` writes
nothing, and no lock file can be removed while another process holds it. As with the
server's ``montemap.lock`` (:mod:`montemap.datadir_lock`), it belongs to the open
descriptor: a killed process leaves no stale lock; the descriptor is close-on-exec, so
the processes a run starts never hold it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from montemap.errors import MontemapError


class PortfolioBusy(MontemapError):
    """The portfolio is being written (for a reader), or read or written (for a writer)."""


class PortfolioLock:
    """A held lock on the portfolio of ``data_dir`` (a directory that exists): shared for
    reading, exclusive for writing; :meth:`release` (or the process's end) frees it."""

    def __init__(self, data_dir: Path, *, write: bool) -> None:
        fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PortfolioBusy(_busy(Path(data_dir), write=write)) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> PortfolioLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _busy(data_dir: Path, *, write: bool) -> str:
    if write:
        return (
            f"the portfolio in {data_dir} is in use (a 'montemap simulate' or 'montemap run' "
            "reads it, or a 'montemap generate' or 'montemap import' writes it): replacing "
            "it now would change the loans under that run; wait for it to finish, or write "
            "to another --data-dir"
        )
    return (
        f"the portfolio in {data_dir} is being written by 'montemap generate' or "
        "'montemap import': wait for it to finish"
    )


@contextmanager
def reading_portfolio(data_dir: Path | None) -> Iterator[None]:
    """Hold the shared lock of ``data_dir``'s portfolio (none for ``None``, or a directory
    that does not exist: there is nothing to read, and the reader says so)."""
    if data_dir is None or not Path(data_dir).is_dir():
        yield
        return
    with PortfolioLock(Path(data_dir), write=False):
        yield
