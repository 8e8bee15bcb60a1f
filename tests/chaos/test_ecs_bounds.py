"""Finding 4 of issue 11: the local ECS has bounds, scales in at once, and stops fast.

Reproduced with boto3 ECS against a real ``montemap server``: a desired count
of a million was accepted and launched ~15 processes/s, scaling to 0 and
``delete-service --force`` did not stop the launches, SIGTERM did not stop
the server in 45 s, and the restart took minutes with 998,656 tasks pending.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from montemap.ecs.limits import MAX_PROVISIONING_TASKS, MAX_TASKS_PER_SERVICE
from tests.conftest import MontemapServer

#: A task that sleeps; ``sleep`` is a tiny process, so dozens cost little.
_SLEEP = ["/bin/sh", "-c", "exec sleep 600"]
#: Startup and answer time of a server on a loaded 2-core machine (a bound, not a wait).
SLACK_S = 8.0


def _poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _register(ecs: Any, family: str, command: list[str]) -> None:
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "main", "image": "none", "command": command}],
    )


def _service(ecs: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_services(cluster="default", services=[name])["services"][0]
    return found


def _all_tasks(ecs: Any, name: str) -> list[dict[str, Any]]:
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        pages = ecs.get_paginator("list_tasks").paginate(
            cluster="default", serviceName=name, desiredStatus=status
        )
        for page in pages:
            arns.extend(page["taskArns"])
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):
        tasks.extend(
            ecs.describe_tasks(cluster="default", tasks=arns[start : start + 100])["tasks"]
        )
    return tasks


def _bounded(server_factory: Callable[..., MontemapServer], *extra: str) -> MontemapServer:
    return server_factory(extra_args=["--max-tasks", "4", "--worker-stop-grace", "2", *extra])


def test_desired_count_past_the_ecs_quota_is_refused(
    server_factory: Callable[..., MontemapServer],
) -> None:
    ecs = _bounded(server_factory).client("ecs")
    _register(ecs, "sleep", _SLEEP)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="Desired count exceeds"):
        ecs.create_service(
            cluster="default", serviceName="huge", taskDefinition="sleep", desiredCount=1_000_000
        )
    assert ecs.list_services(cluster="default")["serviceArns"] == []
    ecs.create_service(cluster="default", serviceName="svc", taskDefinition="sleep", desiredCount=0)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="Desired count exceeds"):
        ecs.update_service(cluster="default", service="svc", desiredCount=MAX_TASKS_PER_SERVICE + 1)
    assert _service(ecs, "svc")["desiredCount"] == 0
    too_big = [{"name": f"V{i}", "value": "x" * 1000} for i in range(70)]
    with pytest.raises(ecs.exceptions.ClientException, match="size exceeds limit"):
        ecs.register_task_definition(
            family="big",
            containerDefinitions=[
                {"name": "main", "image": "none", "command": _SLEEP, "environment": too_big}
            ],
        )


def test_scale_to_zero_stops_launches_at_once(
    server_factory: Callable[..., MontemapServer],
) -> None:
    ecs = _bounded(server_factory).client("ecs")
    _register(ecs, "sleep", _SLEEP)
    ecs.create_service(
        cluster="default",
        serviceName="wide",
        taskDefinition="sleep",
        desiredCount=MAX_TASKS_PER_SERVICE,
    )
    _poll(lambda: _service(ecs, "wide")["runningCount"] == 4, 30, "the host cap of 4 running")
    described = _service(ecs, "wide")
    assert described["pendingCount"] <= MAX_PROVISIONING_TASKS
    scaled_at = time.time()
    answer = ecs.update_service(cluster="default", service="wide", desiredCount=0)["service"]
    assert answer["pendingCount"] == 0  # cancelled before the answer
    _poll(lambda: _service(ecs, "wide")["runningCount"] == 0, 30, "the running tasks stopped")
    tasks = _all_tasks(ecs, "wide")
    assert tasks and all(t["lastStatus"] == "STOPPED" for t in tasks)
    late = [t for t in tasks if t.get("startedAt") and t["startedAt"].timestamp() > scaled_at]
    assert late == []
    started = [t for t in tasks if t.get("startedAt")]
    assert len(started) <= 4 + 1  # the cap, and at most one spawn in flight


def test_delete_force_cancels_pending_tasks(
    server_factory: Callable[..., MontemapServer],
) -> None:
    ecs = _bounded(server_factory).client("ecs")
    _register(ecs, "sleep", _SLEEP)
    ecs.create_service(
        cluster="default", serviceName="doomed", taskDefinition="sleep", desiredCount=3000
    )
    _poll(lambda: _service(ecs, "doomed")["runningCount"] == 4, 30, "4 running")
    answer = ecs.delete_service(cluster="default", service="doomed", force=True)["service"]
    assert answer["status"] == "DRAINING" and answer["pendingCount"] == 0
    _poll(lambda: _service(ecs, "doomed")["status"] == "INACTIVE", 30, "the service drained")
    assert all(t["lastStatus"] == "STOPPED" for t in _all_tasks(ecs, "doomed"))


def test_sigterm_stops_fifty_workers_within_the_grace_period(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    grace, count = 2.0, 50
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    # ignores SIGTERM (as a busy worker may): only SIGKILL after the grace ends it
    stubborn = ["/bin/sh", "-c", f"trap '' TERM; echo $$ > {pids_dir}/$HOSTNAME; exec sleep 600"]
    server = server_factory(
        extra_args=[
            "--max-tasks",
            str(count),
            "--worker-stop-grace",
            str(grace),
            "--shutdown-timeout",
            "1",
        ]
    )
    ecs = server.client("ecs")
    _register(ecs, "stubborn", stubborn)
    ecs.create_service(
        cluster="default", serviceName="many", taskDefinition="stubborn", desiredCount=count
    )
    _poll(lambda: _service(ecs, "many")["runningCount"] == count, 90, "50 running")
    _poll(lambda: len(list(pids_dir.iterdir())) == count, 30, "every task's pid")
    pids = [int(p.read_text()) for p in pids_dir.iterdir()]
    assert all(_alive(pid) for pid in pids)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=60) == 0
    took = time.monotonic() - started
    assert took < grace + 1 + SLACK_S, f"the server took {took:.1f} s to stop"
    assert [pid for pid in pids if _alive(pid)] == []


def test_restart_after_a_crash_is_fast_and_bounded(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = _bounded(server_factory)
    ecs = server.client("ecs")
    _register(ecs, "sleep", _SLEEP)
    ecs.create_service(
        cluster="default",
        serviceName="wide",
        taskDefinition="sleep",
        desiredCount=MAX_TASKS_PER_SERVICE,
    )
    _poll(lambda: _service(ecs, "wide")["runningCount"] == 4, 30, "4 running")
    server.kill()
    started = time.monotonic()
    server.start()
    took = time.monotonic() - started
    assert took < SLACK_S * 2, f"restart took {took:.1f} s"
    ecs = server.client("ecs")
    _poll(lambda: _service(ecs, "wide")["runningCount"] == 4, 30, "4 running again")
    described = _service(ecs, "wide")
    assert described["desiredCount"] == MAX_TASKS_PER_SERVICE
    assert described["pendingCount"] <= MAX_PROVISIONING_TASKS
    # the tasks of the crashed server were stopped, in one pass, not one by one
    stopped = ecs.list_tasks(cluster="default", serviceName="wide", desiredStatus="STOPPED")
    assert stopped["taskArns"]
