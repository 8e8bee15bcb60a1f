"""A server told to stop ends its activity long polls at once, without a task.

Before, each poll in flight held the shutdown for ``--shutdown-timeout`` seconds and was
then cut off: its worker got a 500 and the log a traceback per poll. Now the polls end
as a poll whose time is up does (200, no task), and the server stops at once. Real
servers: ``montemap server`` (SIGTERM) and ``montemap run``'s embedded server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from montemap.testing.server import MontemapServer
from montemap.workflows.client import Clients
from montemap.workflows.embedded import EmbeddedServer

POLLS = 3


def _polls_in_flight(client: Any, activity: str) -> tuple[list[Any], list[threading.Thread]]:
    """``POLLS`` long polls, each on its own thread; each answer (or error) lands in the list."""
    answers: list[Any] = []

    def poll() -> None:
        try:
            answers.append(client.get_activity_task(activityArn=activity, workerName="w"))
        except Exception as exc:  # the test looks at what came back
            answers.append(exc)

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(POLLS)]
    for thread in threads:
        thread.start()
    return answers, threads


def _settled(answers: list[Any], threads: list[threading.Thread], stop: Callable[[], Any]) -> float:
    """Let the polls reach the server, stop it; the seconds the stop took."""
    time.sleep(1.0)  # nothing to observe: a poll waits silently on the server
    assert answers == []  # no task to hand out: every poll is still waiting
    started = time.monotonic()
    stop()
    took = time.monotonic() - started
    for thread in threads:
        thread.join(10)
    return took


def _no_task(answers: list[Any]) -> None:
    assert len(answers) == POLLS
    for answer in answers:
        assert isinstance(answer, dict), answer
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert not answer.get("taskToken")


def test_montemap_server_ends_its_polls_when_stopped(tmp_path: Path) -> None:
    server = MontemapServer(tmp_path / "data", extra_args=["--shutdown-timeout", "30"])
    server.start()
    try:
        client = server.client()  # reads wait 75 s: longer than a poll
        activity = client.create_activity(name="work")["activityArn"]
        answers, threads = _polls_in_flight(client, activity)
        took = _settled(answers, threads, lambda: server.stop(timeout=60))
        _no_task(answers)
        assert took < 10, f"the stop waited {took:.1f} s for the polls"
        assert "Exception in ASGI application" not in server.log_text()
    finally:
        server.close()


def test_the_embedded_server_ends_its_polls_when_stopped(tmp_path: Path) -> None:
    embedded = EmbeddedServer(tmp_path / "data", cgroups=False)
    embedded.start()
    try:
        client = Clients.for_endpoint(embedded.url).sfn
        activity = client.create_activity(name="work")["activityArn"]
        answers, threads = _polls_in_flight(client, activity)
        _settled(answers, threads, embedded.stop)
        _no_task(answers)
    finally:
        embedded.stop()
