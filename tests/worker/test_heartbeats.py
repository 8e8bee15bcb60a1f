"""The heartbeat scheduler: one thread for every task in hand, beats on their own threads.

Each test uses its own :class:`Heartbeats` and real threads; a second task
beating at the same interval serves as the clock that shows time has passed.
"""

from __future__ import annotations

import os
import threading

from montemap.testing import eventually
from montemap.worker.heartbeats import HEARTBEATS, Heartbeats
from montemap.worker.testing import run_handler

INTERVAL = 0.02


class Task:
    """Counts its beats; a beat can be made to block, or to say the task is gone."""

    def __init__(self, *, alive: bool = True, hold: threading.Event | None = None) -> None:
        self.beats = 0
        self.alive = alive
        self.hold = hold
        self.in_beat = threading.Event()
        self.threads: set[str] = set()

    def beat(self) -> bool:
        self.beats += 1
        self.threads.add(threading.current_thread().name)
        self.in_beat.set()
        if self.hold is not None:
            self.hold.wait(60)
        return self.alive


def test_beats_repeat_until_stopped_and_none_follows_stop() -> None:
    beats = Heartbeats()
    task, clock = Task(), Task()
    beats.start(task, INTERVAL)
    beats.start(clock, INTERVAL)
    eventually(lambda: task.beats >= 3, what="three beats")
    beats.stop(task)
    stopped_at = task.beats
    ticks = clock.beats
    eventually(lambda: clock.beats >= ticks + 3, what="the clock task beating on")
    assert task.beats == stopped_at
    assert beats.scheduled() == 1
    beats.stop(clock)
    assert beats.scheduled() == 0
    assert "heartbeats" not in task.threads  # beats never run on the scheduler's thread


def test_a_task_that_is_gone_gets_no_more_beats() -> None:
    beats = Heartbeats()
    gone, clock = Task(alive=False), Task()
    beats.start(gone, INTERVAL)
    beats.start(clock, INTERVAL)
    eventually(lambda: gone.beats == 1 and clock.beats >= 1, what="the first beats")
    ticks = clock.beats
    eventually(lambda: clock.beats >= ticks + 3, what="the clock task beating on")
    assert gone.beats == 1
    beats.stop(gone)
    beats.stop(clock)


def test_a_hanging_beat_holds_up_no_other_task_and_stop_waits_for_it() -> None:
    beats = Heartbeats()
    release = threading.Event()
    stuck, other = Task(hold=release), Task()
    beats.start(stuck, INTERVAL)
    beats.start(other, INTERVAL)
    assert stuck.in_beat.wait(10)
    ticks = other.beats
    eventually(lambda: other.beats >= ticks + 3, what="the other task's beats")
    stopper = threading.Thread(target=beats.stop, args=(stuck,))
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive(), "stop() returned while the task's beat was in flight"
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert stuck.beats == 1
    beats.stop(other)


def test_a_task_registered_while_idle_is_beaten_on_time() -> None:
    beats = Heartbeats()
    first = Task()
    beats.start(first, 30.0)  # the scheduler now sleeps for up to 30 s
    beats.stop(first)
    quick = Task()
    beats.start(quick, INTERVAL)  # due sooner than the scheduler's wake-up: it is woken
    eventually(lambda: quick.beats >= 2, timeout=5, what="beats at the short interval")
    beats.stop(quick)
    assert first.beats == 0


def test_tasks_run_by_the_harness_start_no_thread_each() -> None:
    names: list[str] = []

    def handler(value: int, context: object) -> int:
        names.extend(t.name for t in threading.enumerate())
        return value + 1

    for n in range(20):
        assert run_handler(handler, n, heartbeat_interval=10.0).output == n + 1
    assert not [name for name in names if name.startswith("heartbeat-")]


def test_a_forked_child_beats_with_its_own_scheduler_thread() -> None:
    parent = Task()
    HEARTBEATS.start(parent, INTERVAL)  # the process's scheduler thread is running
    try:
        eventually(lambda: parent.beats >= 1, what="a beat in the parent")
        pid = os.fork()
        if pid == 0:  # the child: no scheduler thread came with the fork
            code = 1
            try:
                child = Task()
                HEARTBEATS.start(child, INTERVAL)
                eventually(lambda: child.beats >= 2, timeout=10, what="beats in the child")
                HEARTBEATS.stop(child)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        HEARTBEATS.stop(parent)
