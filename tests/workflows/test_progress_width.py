"""``montemap run``'s progress line fits the terminal: a line that wraps cannot be
redrawn in place (each update added rows on an 80-column terminal)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import termios
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TextIO

import pytest

from montemap.workflows.progress import Progress, fit


def _snapshot() -> SimpleNamespace:
    return SimpleNamespace(
        status="RUNNING",
        items_total=500_000,
        items_done=123_456,
        items_failed=0,
        batches_done=308,
        batches_total=1_250,
        batches_failed=0,
        retries=3,
        workers_running=16,
        workers_desired=16,
    )


@pytest.fixture
def terminal() -> Iterator[tuple[TextIO, int]]:
    """A pseudo-terminal 60 columns wide: the stream to write to, and the fd to read."""
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    stream = os.fdopen(child_fd, "w", encoding="utf-8")
    try:
        yield stream, main_fd
    finally:
        stream.close()
        os.close(main_fd)


def test_the_line_is_cut_to_the_terminal_width(terminal: tuple[TextIO, int]) -> None:
    stream, main_fd = terminal
    clock = iter([0.0, 30.0, 31.0, 32.0]).__next__
    progress = Progress(SimpleNamespace(loans=500_000), stream=stream, clock=clock)
    assert progress.tty
    progress.update(_snapshot())
    progress.update(_snapshot())
    rows = [row.rstrip() for row in _read_rows(main_fd, 2)]
    assert all(len(row) <= 59 for row in rows), rows
    assert rows == [
        "running 30s | loans 123,456/500,000 | batches 308/1,250",
        "running 31s | loans 123,456/500,000 | batches 308/1,250",
    ]


def _read_rows(fd: int, count: int) -> list[str]:
    """The rows drawn on the terminal (each starts with a carriage return): at least
    ``count``, and what follows them within a moment."""
    shown = ""
    while shown.count("\r") < count:
        ready, _, _ = select.select([fd], [], [], 5.0)
        assert ready, f"the terminal shows only {shown!r}"
        shown += os.read(fd, 4096).decode()
    while select.select([fd], [], [], 0.2)[0]:
        shown += os.read(fd, 4096).decode()
    return [row for row in shown.split("\r") if row]


def test_fit_drops_the_counts_first_then_cuts() -> None:
    text = "running 5s | loans 1/2 | retried 0 | workers 1/1 | 3 loans/s"
    assert fit(text, 100) == text
    assert fit(text, 50) == "running 5s | loans 1/2 | workers 1/1 | 3 loans/s"
    assert fit(text, 40) == "running 5s | loans 1/2 | 3 loans/s"
    assert fit(text, 30) == "running 5s | loans 1/2"
    assert fit(text, 8) == "running "
