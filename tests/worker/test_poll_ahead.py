"""Poll-ahead: a slot sends its next GetActivityTask while its current task runs.

Real ``montemap worker`` processes against a real server: the task polled ahead is
started (ActivityStarted, this worker) while the current one still runs, waits in hand
without running, runs once the current one is reported, and is failed at once with
``montemap.WorkerShutdown`` if the worker is told to stop meanwhile.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from montemap.testing import eventually
from montemap.worker.context import TaskContext
from montemap.worker.execution import InFlightTask
from montemap.worker.poll_ahead import PollAhead

from .worker_support import WorkerProcess, assert_eventually, finished, history

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-worker-test"


class Held:
    """An activity, a one-Task machine using it, and one worker running ``held``."""

    def __init__(
        self,
        server: Any,
        client: Any,
        tmp_path: Path,
        *worker_args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.folder = tmp_path / "markers"
        self.folder.mkdir()
        name = f"pa{uuid.uuid4().hex[:10]}"
        activity = client.create_activity(name=name)["activityArn"]
        task = {"Type": "Task", "Resource": activity, "End": True}
        self.machine = client.create_state_machine(
            name=name,
            definition=json.dumps({"StartAt": "Work", "States": {"Work": task}}),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]
        argv = ["--activity-arn", activity, "--handler", "poll_ahead_handlers:held"]
        argv += ["--endpoint", server.url, "--worker-name", "w-ahead", *worker_args]
        self.worker = WorkerProcess(tmp_path / "worker.log", argv, env)

    def start(self, value: int, *, hold: bool) -> str:
        payload = {"value": value, "hold": hold, "marker_dir": str(self.folder)}
        arn: str = self.client.start_execution(
            stateMachineArn=self.machine, input=json.dumps(payload)
        )["executionArn"]
        return arn

    def started(self, value: int) -> bool:
        return (self.folder / f"started-{value}").exists()

    def release(self, value: int) -> None:
        (self.folder / f"release-{value}").write_text("")

    def taken(self, arn: str) -> bool:
        """Whether this worker took the execution's task (ActivityStarted)."""
        return any(
            e["type"] == "ActivityStarted"
            and e["activityStartedEventDetails"].get("workerName") == "w-ahead"
            for e in history(self.client, arn)
        )

    def done(self, arn: str) -> dict[str, Any]:
        return assert_eventually(
            lambda: finished(self.client, arn), timeout=60, what=self.worker.log_text()
        )


@pytest.fixture
def make_held(shared_montemap_server: Any, shared_sfn_client: Any, tmp_path: Path) -> Iterator[Any]:
    made: list[Held] = []

    def make(*worker_args: str, env: dict[str, str] | None = None) -> Held:
        held = Held(shared_montemap_server, shared_sfn_client, tmp_path, *worker_args, env=env)
        made.append(held)
        return held

    yield make
    for held in made:
        held.worker.close()


def _order(client: Any, arn: str) -> list[str]:
    return [e["type"] for e in history(client, arn)]


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--poll-ahead", "60"), {}), ((), {"MONTEMAP_WORKER_POLL_AHEAD": "60"})],
    ids=["option", "environment"],
)
def test_the_next_task_is_taken_while_a_short_task_runs(
    make_held: Any, args: tuple[str, ...], env: dict[str, str]
) -> None:
    held = make_held(*args, env=env)
    first = held.start(0, hold=False)  # the slot's first task: no poll ahead yet
    assert held.done(first)["status"] == "SUCCEEDED"
    running = held.start(1, hold=True)
    assert_eventually(lambda: held.started(1), what="task 1 running")
    waiting = held.start(2, hold=False)
    assert_eventually(lambda: held.taken(waiting), what="task 2 taken while task 1 runs")
    assert not held.started(2)  # in hand, not running: the slot runs one task at a time
    assert finished(held.client, running) is None
    held.release(1)
    assert held.done(running)["status"] == "SUCCEEDED"
    described = held.done(waiting)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"value": 2}
    types = _order(held.client, waiting)
    assert types.count("ActivityStarted") == 1 and types.count("ActivitySucceeded") == 1
    held.worker.signal(signal.SIGTERM)
    assert held.worker.wait(15) == 0
    assert "3 received, 3 succeeded" in held.worker.log_text()


def test_a_waiting_task_fails_at_once_when_the_worker_stops(make_held: Any) -> None:
    held = make_held("--poll-ahead", "60", "--shutdown-grace", "60")
    assert held.done(held.start(0, hold=False))["status"] == "SUCCEEDED"
    running = held.start(1, hold=True)
    assert_eventually(lambda: held.started(1), what="task 1 running")
    waiting = held.start(2, hold=False)
    assert_eventually(lambda: held.taken(waiting), what="task 2 taken while task 1 runs")
    assert_eventually(  # the answer reached the worker: the task waits in its hand
        lambda: held.worker.log_text().count("task received") == 3, what="task 2 in hand"
    )
    held.worker.signal(signal.SIGTERM)
    described = held.done(waiting)  # within the grace period of the running task
    assert described["status"] == "FAILED"
    assert described["error"] == "montemap.WorkerShutdown"
    assert "waited in hand" in described["cause"]
    assert not held.started(2)
    assert finished(held.client, running) is None  # the running task keeps its grace
    held.release(1)
    assert held.done(running)["status"] == "SUCCEEDED"
    assert held.worker.wait(15) == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--poll-ahead", "0"), {"MONTEMAP_WORKER_POLL_AHEAD": "60"}),
        ((), {"MONTEMAP_WORKER_POLL_AHEAD": "0"}),
        ((), {}),
    ],
    ids=["option", "environment", "default"],
)
def test_without_poll_ahead_the_next_task_waits_for_the_report(
    make_held: Any, args: tuple[str, ...], env: dict[str, str]
) -> None:
    held = make_held(*args, env=env)
    assert held.done(held.start(0, hold=False))["status"] == "SUCCEEDED"
    running = held.start(1, hold=True)
    assert_eventually(lambda: held.started(1), what="task 1 running")
    waiting = held.start(2, hold=False)
    assert_eventually(
        lambda: "ActivityScheduled" in _order(held.client, waiting), what="task 2 scheduled"
    )
    held.release(1)  # a poll ahead would have taken task 2 by now
    assert held.done(waiting)["status"] == "SUCCEEDED"
    succeeded = [e for e in history(held.client, running) if e["type"] == "ActivitySucceeded"]
    taken = [e for e in history(held.client, waiting) if e["type"] == "ActivityStarted"]
    assert taken[0]["timestamp"] >= succeeded[0]["timestamp"]


def test_a_bad_poll_ahead_variable_stops_the_worker(make_held: Any) -> None:
    held = make_held(env={"MONTEMAP_WORKER_POLL_AHEAD": "soon"})
    assert held.worker.wait(30) == 1
    assert "MONTEMAP_WORKER_POLL_AHEAD: 'soon' is not a number of seconds" in (
        held.worker.log_text()
    )


def test_poll_ahead_hands_over_values_and_errors() -> None:
    results: list[Any] = [7, None, ValueError("poll failed")]

    def poll() -> int | None:
        value = results.pop(0)
        if isinstance(value, Exception):
            raise value
        return int(value) if value is not None else None

    ahead: PollAhead[int] = PollAhead(poll, "test-ahead")
    assert not ahead.pending
    ahead.start()
    assert ahead.pending
    with pytest.raises(RuntimeError):
        ahead.start()  # one poll at a time
    assert ahead.take() == 7 and not ahead.pending
    ahead.start()
    assert ahead.take() is None
    ahead.start()
    with pytest.raises(ValueError, match="poll failed"):
        ahead.take()
    assert not ahead.pending


class Reporter:
    """Records the calls a task in hand makes (the service's side of them)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def heartbeat(self, token: str) -> bool:
        self.calls.append("heartbeat")
        return True

    def succeed(self, token: str, output: str) -> bool:
        self.calls.append("succeed")
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.calls.append(f"fail {error}")
        return True


def _task(reporter: Reporter) -> InFlightTask:
    context = TaskContext(task_token="t", activity_arn="a", worker_name="w", beat=lambda: True)
    return InFlightTask(
        token="t", raw_input="{}", reporter=reporter, context=context, heartbeat_interval=0.02
    )


def test_a_task_waiting_in_hand_is_heartbeated_and_none_follows_its_report() -> None:
    reporter = Reporter()
    task = _task(reporter)
    task.hold()  # waits in hand: beats before its handler runs
    eventually(lambda: reporter.calls.count("heartbeat") >= 2, what="beats while waiting")
    task.run(lambda value, context: value)
    assert reporter.calls[-1] == "succeed"
    assert reporter.calls.count("succeed") == 1
    other = Reporter()  # a second task's beats show time passing
    clock = _task(other)
    clock.hold()
    eventually(lambda: other.calls.count("heartbeat") >= 3, what="the clock task beating")
    clock.release()
    assert reporter.calls[-1] == "succeed"  # no beat after the report


def test_a_released_waiting_task_beats_no_more() -> None:
    reporter = Reporter()
    task = _task(reporter)
    task.hold()
    eventually(lambda: "heartbeat" in reporter.calls, what="a first beat")
    task.release()
    task.abandon("montemap.WorkerShutdown", "stopping")
    beats = reporter.calls.count("heartbeat")
    other = Reporter()
    clock = _task(other)
    clock.hold()
    eventually(lambda: other.calls.count("heartbeat") >= 3, what="the clock task beating")
    clock.release()
    assert reporter.calls.count("heartbeat") == beats
    assert reporter.calls[-1] == "fail montemap.WorkerShutdown"
