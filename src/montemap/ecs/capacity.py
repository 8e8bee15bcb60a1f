"""The host's capacity for tasks: CPU units, memory and a count of processes.

The service manager places a task (starts its process) only while the tasks
already placed leave room for its ``cpu`` and ``memory``, as ECS places
tasks on a cluster's container instances; the rest stay ``PROVISIONING``
until others stop. By default the host is the whole machine: 1024 CPU units
per core this process may run on, all of its memory, and
:func:`default_max_tasks` processes. A task with no ``cpu`` (or no
``memory``) reserves none of it; ``max_tasks`` still counts it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from montemap.errors import MontemapError

#: ECS's CPU unit: 1024 units are one vCPU.
UNITS_PER_CORE = 1024
#: Processes per core the default host cap allows.
TASKS_PER_CORE = 32
#: MiB of memory the default host cap sets aside per process.
MIB_PER_TASK = 64
#: Bounds of the default host cap.
MIN_DEFAULT_TASKS, MAX_DEFAULT_TASKS = 8, 1024
#: The most a host may offer (what one machine can have; a larger setting is refused):
#: the CPU units of 8,192 cores (Linux's most CPUs),
MAX_CPU_UNITS = 8192 * UNITS_PER_CORE
#: 1 PiB of memory, in MiB,
MAX_MEMORY_MIB = 1 << 30
#: and 4,194,304 processes (Linux's most process ids, ``PID_MAX_LIMIT``).
MAX_TASKS = 1 << 22
#: Each part's bounds, by field.
BOUNDS = {"cpu_units": MAX_CPU_UNITS, "memory_mib": MAX_MEMORY_MIB, "max_tasks": MAX_TASKS}


def machine_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def machine_memory_mib() -> int:
    """The machine's memory in MiB (``MemTotal``; 4096 where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return max(1, int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return max(1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def default_max_tasks(cores: int, memory_mib: int) -> int:
    """``TASKS_PER_CORE`` per core, no more than memory allows at ``MIB_PER_TASK`` each."""
    by_memory = memory_mib // MIB_PER_TASK
    return max(MIN_DEFAULT_TASKS, min(MAX_DEFAULT_TASKS, cores * TASKS_PER_CORE, by_memory))


class TaskTooLarge(MontemapError):
    """A task larger than the host's whole capacity: it would wait for room for ever."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Capacity:
    """What the host offers tasks: CPU units, MiB of memory, processes."""

    cpu_units: int
    memory_mib: int
    max_tasks: int

    def __post_init__(self) -> None:
        for name, most in BOUNDS.items():
            if not 1 <= getattr(self, name) <= most:
                raise ValueError(
                    f"capacity {name} must be from 1 to {most:,}, got {getattr(self, name)}"
                )

    @classmethod
    def of_machine(
        cls,
        *,
        cpu_units: int | None = None,
        memory_mib: int | None = None,
        max_tasks: int | None = None,
    ) -> Capacity:
        """This machine's capacity, with any of its parts given explicitly."""
        cores = min(machine_cores(), MAX_CPU_UNITS // UNITS_PER_CORE)
        memory = min(machine_memory_mib(), MAX_MEMORY_MIB)
        return cls(
            cpu_units=cpu_units if cpu_units is not None else cores * UNITS_PER_CORE,
            memory_mib=memory_mib if memory_mib is not None else memory,
            max_tasks=max_tasks if max_tasks is not None else default_max_tasks(cores, memory),
        )

    def too_small_for(self, cpu_units: int | None, memory_mib: int | None) -> TaskTooLarge | None:
        """Why a task of this size can never be placed here (RunTask's failure, as ECS
        answers when no instance could hold the task), or None when it fits an empty host."""
        cpu, memory = cpu_units or 0, memory_mib or 0
        if cpu <= self.cpu_units and memory <= self.memory_mib:
            return None
        return TaskTooLarge(
            "RESOURCE:CPU" if cpu > self.cpu_units else "RESOURCE:MEMORY",
            f"the task needs {cpu} CPU units and {memory} MiB, more than the host's whole "
            f"capacity ({self.cpu_units} CPU units, {self.memory_mib} MiB: "
            "--capacity-cpu/--capacity-memory)",
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "cpu_units": self.cpu_units,
            "memory_mib": self.memory_mib,
            "max_tasks": self.max_tasks,
        }


@dataclass
class Usage:
    """What the placed tasks hold (their processes run or have not exited yet)."""

    cpu_units: int = 0
    memory_mib: int = 0
    tasks: int = 0

    def add(self, cpu_units: int | None, memory_mib: int | None, sign: int = 1) -> None:
        self.cpu_units += sign * (cpu_units or 0)
        self.memory_mib += sign * (memory_mib or 0)
        self.tasks += sign

    def shortage(self, capacity: Capacity, cpu_units: int | None, memory_mib: int | None) -> str:
        """Why a task of this size cannot be placed now ("" when it can)."""
        cpu, memory = cpu_units or 0, memory_mib or 0
        if cpu > capacity.cpu_units or memory > capacity.memory_mib:
            return (
                f"the task needs {cpu} CPU units and {memory} MiB, more than the host's whole"
                f" capacity ({capacity.cpu_units} CPU units, {capacity.memory_mib} MiB:"
                " --capacity-cpu/--capacity-memory)"
            )
        if self.tasks + 1 > capacity.max_tasks:
            return f"the host runs its most tasks ({capacity.max_tasks}: --max-tasks)"
        if self.cpu_units + cpu > capacity.cpu_units:
            return (
                f"insufficient CPU units available ({capacity.cpu_units - self.cpu_units} of"
                f" {capacity.cpu_units} free, {cpu} needed)"
            )
        if self.memory_mib + memory > capacity.memory_mib:
            return (
                f"insufficient memory available ({capacity.memory_mib - self.memory_mib} of"
                f" {capacity.memory_mib} MiB free, {memory} needed)"
            )
        return ""
