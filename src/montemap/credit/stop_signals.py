"""SIGTERM and SIGHUP while a portfolio is written (``generate``, ``import``, and the
generation of ``run`` into an empty data directory) unwind as Ctrl-C does, so that the
writer removes what it wrote (``portfolio.PortfolioWriter``). Standard library only:
``run`` imports it before it knows whether it generates."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP during ``generate`` or ``import``: unwinds as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stoppable() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, ``docker stop``) and SIGHUP (a closed terminal)
    stop the command as Ctrl-C does: the objects written so far are removed, and the
    directory is left as it was, for the next ``generate``, ``import`` or ``run``."""

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in stops}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stopped_exit_status(stopped: Stopped) -> int:
    print(f"\nmontemap: stopped by {stopped}", file=sys.stderr)
    return 128 + stopped.signum
