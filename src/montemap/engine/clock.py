"""Time as a parameter: the engine asks a Clock for "now" and for sleeping.

:class:`SystemClock` is the real one. :class:`ManualClock` lets tests move time
forward by hand, so Wait states, retries and timeouts are tested
deterministically, without real sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> object:
        """Stop the timer (no-op once it fired)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, deadline: datetime) -> None:
        """Return once ``now() >= deadline``."""
        ...

    def call_at(self, deadline: datetime, callback: Callable[[], object]) -> Timer:
        """Call ``callback`` on the running loop at (or, rarely, a little before) ``deadline``.

        Cheaper than a task sleeping in :meth:`sleep_until`; callers re-check the time.
        """
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime) -> None:
        while True:
            delay = (deadline - self.now()).total_seconds()
            if delay <= 0:
                return
            await asyncio.sleep(min(delay, 3600.0))

    def call_at(self, deadline: datetime, callback: Callable[[], object]) -> Timer:
        delay = (deadline - self.now()).total_seconds()
        return asyncio.get_running_loop().call_later(min(max(delay, 0.0), 3600.0), callback)


class ManualClock:
    """A clock that only moves when :meth:`advance` is called."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, deadline: datetime) -> None:
        if deadline <= self._now:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut

    def call_at(self, deadline: datetime, callback: Callable[[], object]) -> Timer:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda done: None if done.cancelled() else callback())
        if deadline <= self._now:
            fut.set_result(None)
        else:
            heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        return fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)


def iso(ts: datetime) -> str:
    """AWS's context-object timestamp format: ``2024-01-01T00:00:00.000Z``."""
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return (
        f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:"
        f"{ts.second:02d}.{ts.microsecond // 1000:03d}Z"
    )
