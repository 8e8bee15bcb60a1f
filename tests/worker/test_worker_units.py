"""Worker pieces on their own: errors, back-off, API error policy, options, logs."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from montemap.worker import TaskContext, TaskFailure, Worker, WorkerError
from montemap.worker import logs as worker_logs
from montemap.worker.backoff import Backoff
from montemap.worker.cli import load_handler, register
from montemap.worker.client import describe_api_error, is_gone, is_transient
from montemap.worker.context import GracePeriod, task_id
from montemap.worker.errors import (
    MAX_CAUSE_LENGTH,
    MAX_ERROR_LENGTH,
    TaskCancelled,
    describe_exception,
)
from montemap.worker.sfn_http import SfnHttpClient

ACTIVITY = "arn:aws:states:eu-west-1:123456789012:activity:loans"


def client_error(code: str, status: int = 400, message: str = "no") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SendTaskHeartbeat")


def noop(event: Any, context: TaskContext) -> None:
    return None


# ------------------------------------------------------------------ errors


def test_task_failure_needs_a_name() -> None:
    with pytest.raises(TypeError):
        TaskFailure("")
    with pytest.raises(TypeError):
        TaskFailure("X", 3)  # type: ignore[arg-type]
    assert str(TaskFailure("X", "why")) == "X: why"


def test_describe_exception_respects_the_api_limits() -> None:
    error, cause = describe_exception(TaskFailure("E" * 300, "c" * 40000))
    assert len(error) == MAX_ERROR_LENGTH and len(cause) == MAX_CAUSE_LENGTH
    assert cause.endswith("(truncated)")

    def deep(n: int) -> None:
        if n == 0:
            raise RuntimeError("x" * 20000)
        deep(n - 1)

    try:
        deep(400)
    except RuntimeError as exc:
        error, cause = describe_exception(exc)
    assert error == "RuntimeError" and len(cause) <= MAX_CAUSE_LENGTH
    parsed = json.loads(cause)  # still JSON: frames were dropped, not cut
    assert parsed["errorType"] == "RuntimeError" and "deep" in parsed["stackTrace"][-1]


def test_task_cancelled_carries_the_shutdown_name() -> None:
    context = TaskContext(task_token="t", activity_arn=ACTIVITY, worker_name="w", beat=lambda: True)
    context.check_cancelled()  # not cancelled: nothing raised
    context.cancel("grace over", error="montemap.WorkerShutdown")
    context.cancel("second reason is ignored")
    with pytest.raises(TaskCancelled) as raised:
        context.check_cancelled()
    assert (raised.value.error, raised.value.cause) == ("montemap.WorkerShutdown", "grace over")
    assert context.heartbeat() is False  # no beats once cancelled
    assert context.wait(10) is True


def test_task_ids_hide_the_token() -> None:
    assert task_id("AQsecret") == task_id("AQsecret") != task_id("AQother")
    assert "secret" not in task_id("AQsecret") and len(task_id("x")) == 12


def test_grace_period_only_shortens() -> None:
    grace = GracePeriod()
    assert grace.remaining() is None and not grace.started
    grace.start(100)
    first = grace.remaining()
    assert first is not None and 99 < first <= 100
    grace.start(1000)
    assert (grace.remaining() or 0) <= first
    grace.start(0)
    assert grace.remaining() == 0.0 and grace.started


# ------------------------------------------------------------------ back-off


def test_backoff_is_exponential_with_full_jitter_and_a_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(7))
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) == len(delays)  # jittered, not in lock step
    assert backoff.attempt == 200 and backoff.ceiling(10_000) == 4.0
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next_delay() <= 0.5
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


# ------------------------------------------------------------------ API error policy


@pytest.mark.parametrize(
    ("exc", "gone", "transient"),
    [
        (client_error("TaskTimedOut"), True, False),
        (client_error("TaskDoesNotExist"), True, False),
        (client_error("InvalidToken"), True, False),
        (client_error("ThrottlingException"), False, True),
        (client_error("ActivityWorkerLimitExceeded"), False, True),  # too many pollers: wait
        (client_error("Whatever", status=503), False, True),
        (client_error("ActivityDoesNotExist"), False, False),
        (client_error("AccessDeniedException"), False, False),
        (EndpointConnectionError(endpoint_url="http://x"), False, True),
        (ReadTimeoutError(endpoint_url="http://x"), False, True),
        (ValueError("x"), False, False),
    ],
)
def test_api_errors_are_sorted(exc: Exception, gone: bool, transient: bool) -> None:
    assert is_gone(exc) is gone
    assert is_transient(exc) is transient


def test_api_errors_are_described() -> None:
    assert describe_api_error(client_error("TaskTimedOut", message="late")) == "TaskTimedOut: late"
    assert describe_api_error(ValueError("x")) == "ValueError: x"


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activity_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"}, "activity ARN"),
        ({"activity_arn": "loans"}, "activity ARN"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"shutdown_grace": -1}, "shutdown_grace"),
        ({"backoff_base": 2.0, "backoff_cap": 1.0}, "backoff_cap"),
        ({"worker_name": "x" * 81}, "worker_name"),
        ({"heartbeat_interval": "10"}, "heartbeat_interval"),
    ],
)
def test_worker_options_are_validated(kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"activity_arn": ACTIVITY, "client": object(), **kwargs}
    with pytest.raises(WorkerError, match=message):
        Worker(noop, **options)


def test_worker_rejects_a_handler_that_is_not_callable() -> None:
    with pytest.raises(WorkerError, match="callable"):
        Worker("not a function", activity_arn=ACTIVITY, client=object())  # type: ignore[arg-type]


def test_worker_client_defaults_to_the_activity_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SFN", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    worker = Worker(noop, activity_arn=ACTIVITY, heartbeat_interval=None)
    client = worker.api.client
    assert isinstance(client, SfnHttpClient)
    assert client.region == "eu-west-1"
    assert client.endpoint_url == "https://states.eu-west-1.amazonaws.com"
    assert client.read_timeout > 60  # > the 60 s poll
    client.close()


def test_load_handler_finds_dotted_attributes() -> None:
    loaded: Any = load_handler("json:dumps")
    assert loaded is json.dumps
    loaded = load_handler("json:JSONDecoder.decode")
    assert loaded is json.JSONDecoder.decode


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("json", "must look like"),
        (":dumps", "must look like"),
        ("json:", "must look like"),
        ("no_such_module_xyz:f", "cannot import"),
        ("json:nope", "no attribute"),
        ("json:__doc__", "not a function"),
    ],
)
def test_load_handler_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(WorkerError, match=message):
        load_handler(spec)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["worker", *argv])


def test_command_options() -> None:
    args = parse("--activity-arn", ACTIVITY, "--handler", "m:f")
    assert (args.concurrency, args.heartbeat_interval, args.shutdown_grace) == (1, 10.0, 30.0)
    assert args.endpoint is None and args.log_format == "text"
    args = parse(
        "--activity-arn", ACTIVITY, "--handler", "m:f", "--concurrency", "4",
        "--heartbeat-interval", "2.5", "--shutdown-grace", "0", "--endpoint", "http://h:1",
    )  # fmt: skip
    assert (args.concurrency, args.heartbeat_interval, args.shutdown_grace) == (4, 2.5, 0.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--concurrency", "0"],
        ["--concurrency", "two"],
        ["--heartbeat-interval", "-1"],
        ["--shutdown-grace", "soon"],
        ["--heartbeat-interval", "nan"],
        ["--log-format", "xml"],
    ],
)
def test_command_rejects_bad_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--activity-arn", ACTIVITY, "--handler", "m:f", *argv)
    assert argv[0] in capsys.readouterr().err


# ------------------------------------------------------------------ logs


def test_json_lines_carry_the_task_fields() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        worker_logs.configure("json", "info", stream)
        logger = logging.getLogger("montemap.worker.test-json")
        logger.info("task %s", "done", extra={"task_id": "abc123", "worker": "w1"})
        try:
            raise KeyError("k")
        except KeyError:
            logger.exception("broken")
        logger.debug("hidden")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    assert lines[0]["message"] == "task done" and lines[0]["task_id"] == "abc123"
    assert lines[0]["worker"] == "w1" and lines[0]["level"] == "INFO"
    assert lines[0]["time"].endswith("+00:00")
    assert "KeyError" in lines[1]["exception"]
    with pytest.raises(ValueError):
        worker_logs.configure("xml")


@pytest.mark.parametrize("region", ["bad region", "us-east-1/", "-us-east-1", "a" * 64])
def test_a_region_boto3_refuses_is_a_worker_error(
    monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with pytest.raises(WorkerError, match="is not a valid AWS region name"):
        Worker(noop, activity_arn=ACTIVITY, region=region, endpoint_url="http://127.0.0.1:9")


def test_the_worker_command_says_a_bad_region_in_one_line() -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "montemap.cli",
            "worker",
            "--activity-arn",
            ACTIVITY,
            "--handler",
            "json:dumps",
            "--endpoint",
            "http://127.0.0.1:9",
            "--region",
            "bad region",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "montemap: error: region 'bad region' is not a valid AWS region name"
        " (letters, digits and hyphens, such as us-east-1)"
    ]
