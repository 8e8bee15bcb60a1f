"""The live progress line of ``montemap run``: one line redrawn in place, no flood.

On a terminal the line is redrawn every update, cut to the terminal's width (a line
that wraps cannot be redrawn in place: each update would add rows); otherwise (a log
file, CI) a line is printed at most every ``log_every`` seconds and at the end.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, TextIO


def format_money(value: float) -> str:
    """``1234567.8`` -> ``1.23M``: short amounts for tables."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{sign}{value / size:,.2f}{unit}"
    return f"{sign}{value:,.0f}"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Shows loans and batches done, failed, retried, workers, loans/s and ETA."""

    def __init__(
        self,
        spec: Any,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        log_every: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.spec = spec
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self.clock = clock
        self.started = clock()
        self.last_logged = -1e9
        self.last_line = ""
        self.width = 0

    def line(self, snap: Any) -> str:
        elapsed = self.clock() - self.started
        total = snap.items_total or self.spec.loans
        done = snap.items_done + snap.items_failed
        rate = snap.items_done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 and total > done else 0.0
        parts = [
            f"{snap.status.lower()} {format_duration(elapsed)}",
            f"loans {snap.items_done:,}/{total:,}",
            f"batches {snap.batches_done:,}/{snap.batches_total:,}",
        ]
        if snap.items_failed or snap.batches_failed:
            parts.append(f"failed {snap.batches_failed:,} batches ({snap.items_failed:,} loans)")
        parts.append(f"retried {snap.retries:,}")
        parts.append(f"workers {snap.workers_running}/{snap.workers_desired}")
        parts.append(f"{rate:,.0f} loans/s")
        if eta:
            parts.append(f"ETA {format_duration(eta)}")
        return " | ".join(parts)

    def update(self, snap: Any) -> None:
        if self.quiet:
            return
        try:
            self._show(snap)
        except OSError:  # the reader has gone (``montemap run 2>&1 | head``): the run goes on
            self.quiet = True

    def _show(self, snap: Any) -> None:
        text = self.line(snap)
        self.last_line = text
        if self.tty:
            room = self._columns() - 1
            text = fit(text, room)
            pad = max(0, min(self.width, room) - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
            self.width = len(text)
            return
        now = self.clock()
        if now - self.last_logged >= self.log_every or snap.status != "RUNNING":
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last_logged = now

    def _columns(self) -> int:
        """The terminal's width in columns (a large number where it says none)."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return 1 << 16
        return columns if columns > 0 else 1 << 16

    def close(self) -> None:
        if not self.quiet and self.tty and self.width:
            with contextlib.suppress(OSError):
                self.stream.write("\n")
                self.stream.flush()


#: The parts of the progress line dropped first where the terminal is too narrow.
_EXPENDABLE = ("retried ", "workers ")


def fit(text: str, width: int) -> str:
    """``text`` (parts joined by `` | ``) in at most ``width`` characters: the retry and
    worker counts go first, then whole parts from the end; the first part is cut last."""
    parts = text.split(" | ")
    for prefix in _EXPENDABLE:
        if len(" | ".join(parts)) <= width:
            break
        parts = [part for part in parts if not part.startswith(prefix)]
    while len(parts) > 1 and len(" | ".join(parts)) > width:
        parts.pop()
    return " | ".join(parts)[: max(width, 0)]
