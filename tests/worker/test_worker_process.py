"""``montemap worker`` processes against a real ``montemap server``, through boto3.

Workers are real subprocesses; they are killed with real signals.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .worker_support import (
    WorkerProcess,
    assert_eventually,
    event_types,
    finished,
    history,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-worker-test"


class Scenario:
    """An activity, a state machine whose Task uses it, and workers for it."""

    def __init__(self, server: Any, client: Any, tmp_path: Path) -> None:
        self.server = server
        self.client = client
        self.tmp_path = tmp_path
        self.marker_dir = tmp_path / "markers"
        self.marker_dir.mkdir()
        self.name = f"w{uuid.uuid4().hex[:10]}"
        self.activity_arn = client.create_activity(name=self.name)["activityArn"]
        self.workers: list[WorkerProcess] = []
        self.machine_arn = ""

    def machine(self, **task_fields: Any) -> str:
        task = {"Type": "Task", "Resource": self.activity_arn, "End": True, **task_fields}
        definition = {"StartAt": "Work", "States": {"Work": task}}
        self.machine_arn = self.client.create_state_machine(
            name=f"{self.name}-{len(self.workers)}-{uuid.uuid4().hex[:6]}",
            definition=json.dumps(definition),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]
        return self.machine_arn

    def start(self, value: Any = 1, **extra: Any) -> str:
        payload = {"value": value, "marker_dir": str(self.marker_dir), **extra}
        arn: str = self.client.start_execution(
            stateMachineArn=self.machine_arn, input=json.dumps(payload)
        )["executionArn"]
        return arn

    def worker(
        self,
        handler: str = "hold",
        *args: str,
        hold: float = 0.0,
        endpoint: bool = True,
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        argv = ["--activity-arn", self.activity_arn, "--handler", f"worker_handlers:{handler}"]
        if endpoint:
            argv += ["--endpoint", self.server.url]
        log = self.tmp_path / f"worker{len(self.workers)}.log"
        process = WorkerProcess(log, [*argv, *args], {"WORKER_TEST_HOLD": str(hold), **(env or {})})
        self.workers.append(process)
        return process

    def marker(self, name: str, worker: WorkerProcess, value: Any = 1) -> bool:
        return (self.marker_dir / f"{name}-{worker.pid}-{value}").exists()

    def wait_finished(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        return assert_eventually(
            lambda: finished(self.client, execution_arn),
            timeout=timeout,
            what=f"execution finished; workers: {self.logs()}",
        )

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log_text()}" for w in self.workers)

    def close(self) -> None:
        for process in self.workers:
            process.close()


@pytest.fixture
def scenario(
    shared_montemap_server: Any, shared_sfn_client: Any, tmp_path: Path
) -> Iterator[Scenario]:
    made = Scenario(shared_montemap_server, shared_sfn_client, tmp_path)
    yield made
    made.close()


def started_workers(events: list[dict[str, Any]]) -> list[str]:
    return [
        e.get("activityStartedEventDetails", {}).get("workerName", "")
        for e in events
        if e["type"] == "ActivityStarted"
    ]


def test_a_worker_serves_executions_and_stops_on_sigterm(scenario: Scenario) -> None:
    scenario.machine()
    worker = scenario.worker("hold", "--worker-name", "w-serves")
    executions = [scenario.start(value=i) for i in range(3)]
    for i, arn in enumerate(executions):
        described = scenario.wait_finished(arn)
        assert described["status"] == "SUCCEEDED", scenario.logs()
        output = json.loads(described["output"])
        assert output == {"pid": worker.pid, "value": i, "shutting_down": False}
        assert started_workers(history(scenario.client, arn)) == ["w-serves"]
    began = time.monotonic()
    worker.signal(signal.SIGTERM)  # idle, in a long poll: stops at once
    assert worker.wait(15) == 0, worker.log_text()
    assert time.monotonic() - began < 10
    assert "3 received, 3 succeeded" in worker.log_text()


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("3", "3")])
def test_one_blas_thread_unless_the_environment_says(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, given: str | None, expected: str
) -> None:
    """``montemap`` runs OpenBLAS with one thread (its extra threads only spin over the
    small products montemap makes); a count the user's environment sets is kept."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)  # the worker inherits os.environ
    scenario.machine()
    scenario.worker("blas_threads", env={} if given is None else {"OPENBLAS_NUM_THREADS": given})
    described = scenario.wait_finished(scenario.start())
    assert described["status"] == "SUCCEEDED", scenario.logs()
    output = json.loads(described["output"])
    assert output["variable"] == expected
    # OpenBLAS takes the variable, capped at the machine's cores
    wanted = min(int(expected), os.cpu_count() or 1)
    assert output["threads"] and set(output["threads"]) == {wanted}


def test_endpoint_from_boto3_environment_and_json_logs(scenario: Scenario) -> None:
    """No --endpoint: boto3's own configuration (AWS_ENDPOINT_URL_SFN) finds the server,
    as it would find AWS."""
    scenario.machine()
    worker = scenario.worker(
        "log_and_echo",
        "--log-format",
        "json",
        endpoint=False,
        env={"AWS_ENDPOINT_URL_SFN": scenario.server.url, "AWS_DEFAULT_REGION": "eu-west-1"},
    )
    described = scenario.wait_finished(scenario.start(value="via-env"))
    assert described["status"] == "SUCCEEDED", scenario.logs()
    assert json.loads(described["output"])["value"] == "via-env"
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    lines = [json.loads(line) for line in worker.log_text().splitlines() if line.strip()]
    handled = [line for line in lines if line["message"] == "handling value via-env"]
    assert handled and len(handled[0]["task_id"]) == 12
    assert handled[0]["level"] == "INFO" and handled[0]["worker"]
    assert any(line["message"].startswith("task succeeded") for line in lines)
    token_like = re.compile(r"AQ[A-Za-z0-9_-]{40,}")
    assert not token_like.search(worker.log_text())  # tokens are never logged


def test_sigkill_mid_task_is_retried_on_another_worker(scenario: Scenario) -> None:
    scenario.machine(
        HeartbeatSeconds=2,
        Retry=[{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 2}],
    )
    first = scenario.worker(
        "hold", "--heartbeat-interval", "0.5", "--worker-name", "first", hold=120
    )
    execution = scenario.start()
    assert_eventually(lambda: scenario.marker("started", first), what="first worker started")
    first.proc.kill()  # SIGKILL: no chance to report anything
    first.wait(10)
    second = scenario.worker("hold", "--heartbeat-interval", "0.5", "--worker-name", "second")
    described = scenario.wait_finished(execution, timeout=40)
    assert described["status"] == "SUCCEEDED", scenario.logs()
    assert json.loads(described["output"])["pid"] == second.pid
    events = history(scenario.client, execution)
    types = [e["type"] for e in events]
    timed_out = types.index("ActivityTimedOut")
    assert types[:timed_out].count("ActivityStarted") == 1
    assert "ActivityScheduled" in types[timed_out:] and "ActivityStarted" in types[timed_out:]
    assert types.count("ActivitySucceeded") == 1
    assert started_workers(events) == ["first", "second"]


def test_sigterm_lets_the_task_in_hand_finish(scenario: Scenario) -> None:
    scenario.machine(HeartbeatSeconds=5)
    worker = scenario.worker(
        "hold", "--heartbeat-interval", "1", "--shutdown-grace", "30", hold=1.5
    )
    execution = scenario.start()
    assert_eventually(lambda: scenario.marker("started", worker), what="handler started")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.log_text()
    assert scenario.marker("finished", worker)
    described = scenario.wait_finished(execution)
    assert described["status"] == "SUCCEEDED", scenario.logs()
    output = json.loads(described["output"])
    assert output["pid"] == worker.pid and output["shutting_down"] is True
    assert event_types(scenario.client, execution).count("ActivityStarted") == 1
    assert "stopping (SIGTERM)" in worker.log_text()


def test_sigterm_fails_a_task_that_outlasts_the_grace(scenario: Scenario) -> None:
    """The task is failed with the retryable montemap.WorkerShutdown at once, not left
    to time out, and the Retry runs it on another worker."""
    scenario.machine(
        HeartbeatSeconds=60,
        Retry=[
            {"ErrorEquals": ["montemap.WorkerShutdown"], "IntervalSeconds": 1, "MaxAttempts": 1}
        ],
    )
    first = scenario.worker(
        "hold_stubbornly", "--heartbeat-interval", "1", "--shutdown-grace", "0.5", hold=120
    )
    execution = scenario.start()
    assert_eventually(lambda: scenario.marker("started", first), what="handler started")
    began = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait(15) == 0, first.log_text()
    assert time.monotonic() - began < 10
    failed = assert_eventually(
        lambda: [e for e in history(scenario.client, execution) if e["type"] == "ActivityFailed"],
        what="ActivityFailed",
    )
    details = failed[0]["activityFailedEventDetails"]
    assert details["error"] == "montemap.WorkerShutdown"
    assert "grace period" in details["cause"]
    second = scenario.worker("hold")
    described = scenario.wait_finished(execution)
    assert described["status"] == "SUCCEEDED", scenario.logs()
    assert json.loads(described["output"])["pid"] == second.pid
    assert "ActivityTimedOut" not in event_types(scenario.client, execution)


def test_a_second_sigterm_ends_the_grace_at_once(scenario: Scenario) -> None:
    scenario.machine(HeartbeatSeconds=60)
    worker = scenario.worker("hold", "--shutdown-grace", "120", hold=120)
    execution = scenario.start()
    assert_eventually(lambda: scenario.marker("started", worker), what="handler started")
    worker.signal(signal.SIGTERM)
    assert_eventually(lambda: "stopping (SIGTERM)" in worker.log_text(), what="first SIGTERM seen")
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.log_text()
    described = scenario.wait_finished(execution)
    assert described["status"] == "FAILED"
    assert described.get("error") == "montemap.WorkerShutdown"
    assert scenario.marker("cancelled", worker)  # the handler saw the cancellation


@pytest.mark.parametrize(
    ("handler", "payload", "error", "cause_check"),
    [
        (
            "fail_named",
            {"error": "Credit.BadBatch", "cause": "3 bad loans"},
            "Credit.BadBatch",
            lambda cause: cause == "3 bad loans",
        ),
        (
            "crash",
            {},
            "ValueError",
            lambda cause: json.loads(cause)["errorMessage"] == "bad value 7",
        ),
    ],
)
def test_handler_failures_reach_the_execution(
    scenario: Scenario,
    handler: str,
    payload: dict[str, Any],
    error: str,
    cause_check: Callable[[str], bool],
) -> None:
    scenario.machine()
    scenario.worker(handler)
    described = scenario.wait_finished(scenario.start(value=7, **payload))
    assert described["status"] == "FAILED", scenario.logs()
    assert described["error"] == error
    assert cause_check(described["cause"])


def test_concurrency_keeps_several_tasks_in_hand(scenario: Scenario) -> None:
    scenario.machine()
    worker = scenario.worker("hold", "--concurrency", "3", hold=30)
    executions = [scenario.start(value=i) for i in range(3)]
    assert_eventually(
        lambda: all(scenario.marker("started", worker, i) for i in range(3)),
        what="three handlers running at once",
    )
    worker.signal(signal.SIGTERM)
    assert_eventually(lambda: "stopping (SIGTERM)" in worker.log_text(), what="first SIGTERM seen")
    worker.signal(signal.SIGTERM)  # (two at once would merge into one pending signal)
    assert worker.wait(15) == 0
    for arn in executions:
        assert scenario.wait_finished(arn)["error"] == "montemap.WorkerShutdown"


def test_an_unknown_activity_stops_the_worker_with_an_error(scenario: Scenario) -> None:
    scenario.client.delete_activity(activityArn=scenario.activity_arn)
    worker = scenario.worker()
    assert worker.wait(30) == 1, worker.log_text()
    assert "ActivityDoesNotExist" in worker.log_text()


def test_stopping_the_execution_cancels_the_handler(scenario: Scenario) -> None:
    """The next heartbeat is refused (TaskTimedOut): the worker cancels the handler's
    context, drops its result and carries on polling."""
    scenario.machine(HeartbeatSeconds=30)
    worker = scenario.worker("hold", "--heartbeat-interval", "0.3", hold=60)
    execution = scenario.start()
    assert_eventually(lambda: scenario.marker("started", worker), what="handler started")
    scenario.client.stop_execution(executionArn=execution, error="Test.Stop")
    assert_eventually(lambda: scenario.marker("cancelled", worker), what="handler cancelled")
    assert_eventually(lambda: "result dropped" in worker.log_text(), what="result dropped")
    assert "heartbeat refused, the task is gone" in worker.log_text()
    assert worker.proc.poll() is None  # still serving
    assert scenario.wait_finished(execution)["status"] == "ABORTED"
