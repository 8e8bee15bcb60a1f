"""RunTask of a task larger than the host's whole capacity.

It used to be created PROVISIONING and wait for room for ever, and, being the oldest
standalone task waiting, kept every later RunTask task from being placed, however small.
RunTask now answers a failure, as ECS does when no instance could hold the task
(``RESOURCE:CPU``/``RESOURCE:MEMORY``), and creates nothing, so a small task run next
starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from montemap.testing import MontemapServer, eventually

pytestmark = pytest.mark.timeout(90)

TASK_DEF = "arn:aws:ecs:us-east-1:123456789012:task-definition/"


def _register(ecs: Any, family: str, cpu: int) -> None:
    container = {"name": "main", "image": "x", "command": ["sleep", "30"], "memory": 64}
    ecs.register_task_definition(family=family, containerDefinitions=[{**container, "cpu": cpu}])


def _status(ecs: Any, arn: str) -> str:
    return str(ecs.describe_tasks(cluster="default", tasks=[arn])["tasks"][0]["lastStatus"])


def test_run_task_refuses_a_task_no_host_capacity_holds(
    server_factory: Callable[..., MontemapServer],
) -> None:
    server = server_factory(extra_args=["--capacity-cpu", "100", "--capacity-memory", "1000"])
    ecs = server.client("ecs")
    _register(ecs, "huge", 256)
    _register(ecs, "tiny", 64)
    answer = ecs.run_task(cluster="default", taskDefinition="huge", count=2)
    assert answer["tasks"] == []
    assert (
        answer["failures"]
        == [
            {
                "arn": TASK_DEF + "huge:1",
                "reason": "RESOURCE:CPU",
                "detail": "the task needs 256 CPU units and 64 MiB, more than the host's whole "
                "capacity (100 CPU units, 1000 MiB: --capacity-cpu/--capacity-memory)",
            }
        ]
        * 2
    )
    big_memory = {"memory": "2048"}
    answer = ecs.run_task(cluster="default", taskDefinition="tiny", overrides=big_memory)
    assert answer["tasks"] == [] and answer["failures"][0]["reason"] == "RESOURCE:MEMORY"
    assert ecs.list_tasks(cluster="default", desiredStatus="RUNNING")["taskArns"] == []
    tiny = ecs.run_task(cluster="default", taskDefinition="tiny")["tasks"][0]["taskArn"]
    eventually(lambda: _status(ecs, tiny) == "RUNNING", timeout=30, what="the small task")
    ecs.stop_task(cluster="default", task=tiny)
