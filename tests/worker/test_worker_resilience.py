"""An in-process Worker through API outages: back-off, recovery, result retries."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from montemap.worker import TaskContext, Worker
from montemap.worker.client import TaskApi, make_client

from .worker_support import assert_eventually, finished, free_port

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-worker-test"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


@pytest.fixture
def run_in_thread() -> Iterator[Callable[[Worker], threading.Thread]]:
    """Run workers in threads; stop and join them after the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(worker: Worker) -> threading.Thread:
        result: dict[str, int] = {}
        thread = threading.Thread(
            target=lambda: result.setdefault("code", worker.run()), daemon=True
        )
        thread.result = result  # type: ignore[attr-defined]
        thread.start()
        started.append((worker, thread))
        return thread

    yield start
    for worker, thread in started:
        worker.request_shutdown("test over")
        worker.request_shutdown("test over")
        thread.join(10)


def echo(event: Any, context: TaskContext) -> Any:
    return event


def test_worker_backs_off_while_the_server_is_down_and_recovers(
    server_factory: Any,
    credentials: None,
    run_in_thread: Callable[[Worker], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = server_factory()
    client = server.client()
    try:
        activity = client.create_activity(name="resilient")["activityArn"]
        definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": activity, "End": True}}}  # fmt: skip
        machine = client.create_state_machine(
            name="resilient", definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        server.stop()

        caplog.set_level(logging.WARNING, logger="montemap.worker")
        worker = Worker(
            echo,
            activity_arn=activity,
            endpoint_url=server.url,
            heartbeat_interval=None,
            backoff_base=0.02,
            backoff_cap=0.1,
        )
        thread = run_in_thread(worker)
        assert_eventually(lambda: worker.stats.api_errors >= 3, what="failed polls")
        assert any("retrying in" in r.getMessage() for r in caplog.records)
        assert thread.is_alive() and not worker.stopping  # outages are not fatal

        server.start()
        execution = client.start_execution(stateMachineArn=machine, input='{"back": true}')
        described = assert_eventually(lambda: finished(client, execution["executionArn"]))
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"back": True}
        assert_eventually(lambda: worker.stats.succeeded == 1, what="the task counted")

        began = time.monotonic()
        worker.request_shutdown("test")
        thread.join(10)
        assert not thread.is_alive() and thread.result["code"] == 0  # type: ignore[attr-defined]
        assert time.monotonic() - began < 5  # an idle worker does not wait out its long poll
    finally:
        client.close()


def test_results_are_retried_then_given_up(
    credentials: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Reporting retries transient errors with back-off until report_timeout."""
    client = make_client(region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}")
    api = TaskApi(client, report_timeout=0.5, backoff_base=0.02, backoff_cap=0.1)
    caplog.set_level(logging.WARNING, logger="montemap.worker")
    began = time.monotonic()
    with pytest.raises(EndpointConnectionError):
        api.fail("AQtoken", "E", "cause")
    assert time.monotonic() - began < 3
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) >= 2
    assert api.heartbeat("AQtoken") is True  # a failed beat is logged, not fatal
    client.close()


def test_gone_tasks_are_logged_and_dropped(
    montemap_server: Any, credentials: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(region="us-east-1", endpoint_url=montemap_server.url)
    api = TaskApi(client)
    caplog.set_level(logging.WARNING, logger="montemap.worker")
    assert api.heartbeat("AQnot-a-task") is False
    assert api.succeed("AQnot-a-task", "{}") is False
    assert api.fail("AQnot-a-task", "E", "c") is False
    assert sum("the task is gone" in r.getMessage() for r in caplog.records) == 3
    assert all("AQnot-a-task" not in r.getMessage() for r in caplog.records)
    client.close()


def _activity_machine(client: Any, name: str) -> tuple[str, str]:
    """An activity and a state machine whose one Task runs it."""
    activity = client.create_activity(name=name)["activityArn"]
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": activity, "End": True}}}  # fmt: skip
    machine = client.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    return activity, machine


def test_stopping_closes_the_open_poll_so_its_task_goes_to_another_worker(
    montemap_server: Any,
    credentials: None,
    run_in_thread: Callable[[Worker], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker run in a process that goes on (a library user's, a test's) closes its
    open long polls when it stops, as its process's exit would: the server cancels
    them, so a task scheduled afterwards waits for the next worker instead of being
    taken by the stopped one and failed with montemap.WorkerShutdown."""
    client = montemap_server.client()
    try:
        activity, machine = _activity_machine(client, "handed-on")
        stopped = Worker(
            lambda event, context: {"by": "stopped"},
            activity_arn=activity,
            endpoint_url=montemap_server.url,
            heartbeat_interval=None,
        )
        caplog.set_level(logging.DEBUG, logger="montemap.worker")
        thread = run_in_thread(stopped)
        assert_eventually(
            lambda: any(r.getMessage() == "polling for a task" for r in caplog.records),
            what="worker polling",
        )
        stopped.request_shutdown("test")
        thread.join(10)
        assert not thread.is_alive()
        assert_eventually(  # the server sees the closed connection and cancels the poll
            lambda: montemap_server.metrics()["activity_polls_waiting"] == 0,
            what="the stopped worker's poll to end",
        )
        execution = client.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        successor = Worker(
            lambda event, context: {"by": "successor"},
            activity_arn=activity,
            endpoint_url=montemap_server.url,
            heartbeat_interval=None,
        )
        run_in_thread(successor)
        described = assert_eventually(lambda: finished(client, execution))
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == {"by": "successor"}
        assert stopped.stats.received == 0 and stopped.stats.api_errors == 0
        assert not any("GetActivityTask failed" in r.getMessage() for r in caplog.records)
    finally:
        client.close()


def test_a_task_arriving_during_shutdown_is_failed_at_once(
    montemap_server: Any,
    credentials: None,
    run_in_thread: Callable[[Worker], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A long poll that cannot be closed (a boto3 client given to the worker) may yet
    return a task after the worker stopped: the worker fails it with
    montemap.WorkerShutdown instead of dropping it."""
    client = montemap_server.client()
    try:
        activity, machine = _activity_machine(client, "late")
        handled: list[Any] = []
        worker = Worker(
            lambda event, context: handled.append(event),
            activity_arn=activity,
            client=montemap_server.client(),
            heartbeat_interval=None,
        )
        caplog.set_level(logging.DEBUG, logger="montemap.worker")
        thread = run_in_thread(worker)
        assert_eventually(
            lambda: any(r.getMessage() == "polling for a task" for r in caplog.records),
            what="worker polling",
        )
        worker.request_shutdown("test")
        thread.join(10)
        assert not thread.is_alive()  # run() returned; its poll is still open
        execution = client.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        described = assert_eventually(lambda: finished(client, execution))
        assert described["status"] == "FAILED"
        assert described["error"] == "montemap.WorkerShutdown"
        assert "was stopping" in described["cause"]
        assert handled == []
        # the worker counts the task after reporting it, so the count may lag the report
        assert_eventually(lambda: worker.stats.abandoned == 1, what="the task counted")
    finally:
        client.close()


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "killed"])
def test_a_result_made_while_the_server_restarts_is_delivered_once(
    server_factory: Any,
    credentials: None,
    run_in_thread: Callable[[Worker], threading.Thread],
    caplog: pytest.LogCaptureFixture,
    crash: bool,
) -> None:
    """The server goes away (SIGTERM, or SIGKILL) while a task is in hand; the worker's
    result waits for it, reaches the restarted server once, and the execution succeeds."""
    server = server_factory()
    client = server.client()
    release = threading.Event()
    started = threading.Event()

    def held(event: Any, context: TaskContext) -> Any:
        started.set()
        release.wait(60)
        return {"done": event}

    try:
        activity = client.create_activity(name="restarting")["activityArn"]
        definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": activity, "End": True}}}  # fmt: skip
        machine = client.create_state_machine(
            name="restarting", definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        execution = client.start_execution(stateMachineArn=machine, input="7")["executionArn"]
        worker = Worker(
            held,
            activity_arn=activity,
            endpoint_url=server.url,
            heartbeat_interval=None,
            backoff_base=0.05,
            backoff_cap=0.2,
            report_timeout=60,
        )
        run_in_thread(worker)
        assert started.wait(30)
        caplog.set_level(logging.WARNING, logger="montemap.worker")
        if crash:
            server.kill()
        else:
            server.stop()
        release.set()  # the handler returns while the server is down
        assert_eventually(
            lambda: any("reporting the result failed" in r.getMessage() for r in caplog.records),
            what="a report the stopped server refused",
        )
        assert worker.stats.succeeded == 0
        server.start()
        described = assert_eventually(lambda: finished(client, execution), timeout=60)
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"done": 7}
        assert_eventually(lambda: worker.stats.succeeded == 1, what="the task counted")
        history = client.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        types = [e["type"] for e in history]
        assert types.count("ActivityScheduled") == 1
        assert types.count("ActivitySucceeded") == 1
        assert worker.stats.received == 1
    finally:
        client.close()
