"""A container's ``memory``, ``memoryReservation`` and ``cpu`` against its task's, as ECS
checks them when a task definition is registered (``ClientException``).

* ``memory`` (the hard limit) must be at least ``memoryReservation`` (the soft one);
* a container may not ask for more memory or CPU than a task-level ``memory`` or
  ``cpu`` gives the whole task;
* a task-level ``cpu`` is 128 to 196608 units (0.125 to 192 vCPU), what ECS offers on
  EC2 instances (Fargate's sizes are checked by :func:`~montemap.ecs.taskdefs.check_fargate`);
* a definition that requires the ``EC2`` launch type needs a memory size somewhere: the
  task's ``memory``, or the container's ``memory`` or ``memoryReservation``. (A definition
  that names no compatibility may leave all of them out here: its task is unlimited.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from montemap.ecs.taskdefs import client_error, parse_cpu, parse_memory

#: The task-level CPU units ECS accepts for tasks on EC2 instances.
TASK_CPU_RANGE = (128, 196608)


def _size(container: Mapping[str, Any], key: str) -> int | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise client_error(
            f"Container '{container.get('name')}' {key} must be a non-negative integer."
        )
    return value


def check_container_sizes(body: Mapping[str, Any]) -> None:
    """Refuse a definition whose containers' sizes ECS would refuse (ClientException)."""
    task_cpu = parse_cpu(str(body["cpu"])) if body.get("cpu") is not None else None
    task_memory = parse_memory(str(body["memory"])) if body.get("memory") is not None else None
    if task_cpu is not None and not TASK_CPU_RANGE[0] <= task_cpu <= TASK_CPU_RANGE[1]:
        raise client_error(
            "Invalid 'cpu' setting for task. For more information, see the Troubleshooting"
            " section of the Amazon ECS Developer Guide."
        )
    for container in body.get("containerDefinitions") or []:
        name = container.get("name")
        memory, reservation = _size(container, "memory"), _size(container, "memoryReservation")
        cpu = _size(container, "cpu")
        if memory is not None and reservation is not None and memory < reservation:
            raise client_error(
                f"Invalid 'memory' setting for container '{name}'. 'memory' ({memory} MiB) must"
                f" be greater than or equal to 'memoryReservation' ({reservation} MiB)."
            )
        wanted = memory if memory is not None else reservation
        if task_memory is not None and wanted is not None and wanted > task_memory:
            raise client_error(
                f"Invalid 'memory' setting for container '{name}'. The container's memory"
                f" ({wanted} MiB) exceeds the task's memory ({task_memory} MiB)."
            )
        if task_cpu is not None and cpu is not None and cpu > task_cpu:
            raise client_error(
                f"Invalid 'cpu' setting for container '{name}'. The container's cpu ({cpu}"
                f" units) exceeds the task's cpu ({task_cpu} units)."
            )
        ec2 = "EC2" in (body.get("requiresCompatibilities") or [])
        if ec2 and task_memory is None and memory is None and reservation is None:
            raise client_error(
                f"Invalid setting for container '{name}'. At least one of 'memory' or"
                " 'memoryReservation' must be specified."
            )
