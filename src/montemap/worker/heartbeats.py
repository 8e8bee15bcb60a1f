"""Background heartbeats for the tasks in hand, without a thread per task.

A thread started and joined for every task cost a worker about 0.4 ms of CPU
per task (session 19: ~0.5 s of a 1,250-batch run), for heartbeats that a
task of a fraction of a second never sends. One scheduler thread per process
keeps every task's next due time instead; when a beat is due it runs on a
thread of its own (a beat is a network call: one that hangs must not hold up
the other tasks' beats), and the next one is due ``interval`` seconds after
it returned, as before. :meth:`Heartbeats.stop` returns once no beat of the
task is in flight, so no heartbeat follows the task's report.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Protocol


class Beating(Protocol):
    """A task in hand: :meth:`beat` sends one heartbeat; False once the task is gone."""

    def beat(self) -> bool: ...


class Heartbeats:
    """Sends the heartbeats of the tasks registered with :meth:`start`. Thread-safe."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the scheduler waits on it
        self._beat_done = threading.Condition(self._lock)  # stop() waits on it
        self._due: dict[Beating, tuple[float, float]] = {}  # task -> (due, interval)
        self._beating: set[Beating] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def start(self, task: Beating, interval: float) -> None:
        """Beat for ``task`` every ``interval`` seconds (the first after ``interval``)."""
        due = time.monotonic() + interval
        with self._lock:
            self._due[task] = (due, interval)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
            elif due < self._wake_at:  # else the scheduler wakes in time anyway
                self._wake.notify()

    def stop(self, task: Beating) -> None:
        """No more beats for ``task``; returns once none of its beats is in flight."""
        with self._lock:
            self._due.pop(task, None)
            while task in self._beating:
                self._beat_done.wait()

    def scheduled(self) -> int:
        """How many tasks are beaten for now."""
        with self._lock:
            return len(self._due)

    def _run(self) -> None:
        idle_wait = 1.0
        with self._lock:
            while True:
                now = time.monotonic()
                next_due = float("inf")
                for task, (due, interval) in list(self._due.items()):
                    idle_wait = interval
                    if task in self._beating:
                        continue
                    if due <= now:
                        self._beating.add(task)
                        threading.Thread(
                            target=self._beat, args=(task,), name="heartbeat", daemon=True
                        ).start()
                    else:
                        next_due = min(next_due, due)
                # Idle, it still wakes every interval: a task registered meanwhile is
                # due later than that, so registering never needs to wake it.
                self._wake_at = min(next_due, now + idle_wait)
                self._wake.wait(self._wake_at - now)

    def _beat(self, task: Beating) -> None:
        alive = False
        try:
            alive = task.beat()
        finally:
            with self._lock:
                self._beating.discard(task)
                entry = self._due.get(task)
                if entry is not None:
                    if alive:
                        self._due[task] = (time.monotonic() + entry[1], entry[1])
                    else:
                        del self._due[task]
                    self._wake.notify()
                self._beat_done.notify_all()


#: The process's scheduler (the worker's tasks and the test harness's share it).
HEARTBEATS = Heartbeats()
# A child forked while the thread ran has no such thread: it starts its own when needed.
os.register_at_fork(after_in_child=HEARTBEATS._reset)
