"""Capacity and bounds of the service manager: tasks wait PROVISIONING for room.

Real processes on a host whose capacity the test sets; the manager places a
task only while the placed ones leave room for its CPU, memory and count.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from montemap.ecs.capacity import Capacity, Usage, default_max_tasks
from montemap.ecs.limits import MAX_PROVISIONING_TASKS
from montemap.ecs.service import ServiceManager
from montemap.ecs.taskdefs import EcsStore, TaskRecord
from montemap.engine.db import Database

from .test_service_support import (
    SLEEPER,
    STUBBORN,
    alive,
    live_tasks,
    open_manager,
    register,
    wait_for,
)

BIG = 10**6


def _create(manager: ServiceManager, name: str, family: str, count: int) -> None:
    definition = manager.store.resolve_task_definition(family)
    assert definition is not None
    manager.store.create_service("default", name, definition, count, "FARGATE", {})
    manager.wake()


def _statuses(manager: ServiceManager, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in live_tasks(manager.store, name):
        counts[task.last_status] = counts.get(task.last_status, 0) + 1
    return counts


def _placed(manager: ServiceManager, name: str, running: int, provisioning: int) -> bool:
    wanted = {"RUNNING": running, "PROVISIONING": provisioning}
    return _statuses(manager, name) == {k: v for k, v in wanted.items() if v}


def test_cpu_capacity_holds_the_rest_provisioning(tmp_path: Path) -> None:
    capacity = Capacity(cpu_units=512, memory_mib=BIG, max_tasks=100)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", capacity=capacity) as manager:
            register(manager.store, "quarter", SLEEPER, cpu="0.25 vCPU", memory="512")
            _create(manager, "svc", "quarter", 5)
            await wait_for(lambda: _placed(manager, "svc", 2, 3), 20, "2 placed, 3 waiting")
            await manager.reconcile()  # another pass places nothing more
            assert _placed(manager, "svc", 2, 3)
            assert manager.counts("default", "svc") == (2, 3)
            assert manager.status()["used"] == {"cpu_units": 512, "memory_mib": 1024, "tasks": 2}
            messages = [e["message"] for e in manager.events("default", "svc")]
            assert any("insufficient CPU units available" in m for m in messages), messages

            tasks = live_tasks(manager.store, "svc")
            first = next(t for t in tasks if t.last_status == "RUNNING")
            waiting = {t.id for t in tasks if t.last_status == "PROVISIONING"}
            await manager.stop_task(first.id, "make room")

            def one_waiting_placed() -> bool:
                now = live_tasks(manager.store, "svc")
                placed = {t.id for t in now if t.last_status == "RUNNING"}
                return len(placed & waiting) == 1 and _placed(manager, "svc", 2, 3)

            # the stopped task's place goes to one that waited; a replacement waits
            await wait_for(one_waiting_placed, 20, "a waiting task placed")
            stopped = manager.store.get_task(first.id)
            assert stopped is not None and stopped.last_status == "STOPPED"

    asyncio.run(scenario())


def test_memory_and_task_count_bound_placement(tmp_path: Path) -> None:
    async def scenario() -> None:
        memory = Capacity(cpu_units=BIG, memory_mib=1024, max_tasks=100)
        async with open_manager(tmp_path / "a.db", capacity=memory) as manager:
            register(manager.store, "half-gb", SLEEPER, memory="512")
            _create(manager, "svc", "half-gb", 3)
            await wait_for(lambda: _placed(manager, "svc", 2, 1), 20, "memory for 2")
        count = Capacity(cpu_units=BIG, memory_mib=BIG, max_tasks=3)
        async with open_manager(tmp_path / "b.db", capacity=count) as manager:
            register(manager.store, "unsized", SLEEPER)
            _create(manager, "svc", "unsized", 5)
            await wait_for(lambda: _placed(manager, "svc", 3, 2), 20, "3 processes at most")
            messages = [e["message"] for e in manager.events("default", "svc")]
            assert any("--max-tasks" in m for m in messages), messages

    asyncio.run(scenario())


def test_task_larger_than_the_host_waits_and_says_why(tmp_path: Path) -> None:
    capacity = Capacity(cpu_units=1024, memory_mib=BIG, max_tasks=10)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", capacity=capacity) as manager:
            register(manager.store, "huge", SLEEPER, cpu="4 vCPU", memory="512")
            _create(manager, "svc", "huge", 1)
            await wait_for(lambda: bool(manager.events("default", "svc")), 20, "an event")
            assert _statuses(manager, "svc") == {"PROVISIONING": 1}
            message = manager.events("default", "svc")[0]["message"]
            assert "more than the host's whole capacity" in message
            assert "--capacity-cpu" in message

    asyncio.run(scenario())


def test_scale_in_cancels_waiting_tasks_at_once(tmp_path: Path) -> None:
    capacity = Capacity(cpu_units=BIG, memory_mib=BIG, max_tasks=1)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", capacity=capacity) as manager:
            register(manager.store, "unsized", SLEEPER)
            _create(manager, "svc", "unsized", 6)
            await wait_for(lambda: _placed(manager, "svc", 1, 5), 20, "1 placed, 5 waiting")
            service = manager.store.get_service("default", "svc")
            assert service is not None
            manager.store.update_service(
                service, desired_count=2, task_definition=None, force_new_deployment=False
            )
            assert manager.cancel_pending("default", "svc", 2) == 4
            assert _placed(manager, "svc", 1, 1)  # no pass of the loop needed
            assert manager.cancel_pending("default", "svc", 2) == 0

    asyncio.run(scenario())


def test_provisioning_tasks_are_bounded_for_a_huge_desired_count(tmp_path: Path) -> None:
    capacity = Capacity(cpu_units=BIG, memory_mib=BIG, max_tasks=2)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", capacity=capacity) as manager:
            register(manager.store, "unsized", SLEEPER)
            _create(manager, "svc", "unsized", 5000)
            await wait_for(
                lambda: _placed(manager, "svc", 2, MAX_PROVISIONING_TASKS), 30, "bounded rows"
            )
            assert len(manager.store.tasks()) == 2 + MAX_PROVISIONING_TASKS
            messages = [e["message"] for e in manager.events("default", "svc")]
            assert any("PROVISIONING state per cluster" in m for m in messages), messages

    asyncio.run(scenario())


def test_rolling_deployment_on_a_full_host_completes(tmp_path: Path) -> None:
    capacity = Capacity(cpu_units=BIG, memory_mib=BIG, max_tasks=2)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", capacity=capacity) as manager:
            first = register(manager.store, "app", SLEEPER)
            _create(manager, "svc", "app", 2)
            await wait_for(lambda: _placed(manager, "svc", 2, 0), 20, "2 running")
            newer = register(manager.store, "app", SLEEPER)
            service = manager.store.get_service("default", "svc")
            assert service is not None
            manager.store.update_service(
                service, desired_count=None, task_definition=newer, force_new_deployment=False
            )
            manager.wake()

            def replaced() -> bool:
                tasks = live_tasks(manager.store, "svc")
                return (
                    len(tasks) == 2
                    and all(t.task_definition == newer.key for t in tasks)
                    and all(t.last_status == "RUNNING" for t in tasks)
                )

            await wait_for(replaced, 30, "the new revision replaced the old on a full host")
            assert first.key != newer.key

    asyncio.run(scenario())


def test_close_stops_every_task_within_one_grace_period(tmp_path: Path) -> None:
    capacity = Capacity(cpu_units=BIG, memory_mib=BIG, max_tasks=50)
    grace = 1.5
    count = 12

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", capacity=capacity) as manager:
            register(manager.store, "stubborn", STUBBORN)
            _create(manager, "svc", "stubborn", count)
            await wait_for(lambda: _placed(manager, "svc", count, 0), 60, "all running")
            pids = [t.pid for t in live_tasks(manager.store, "svc")]
            started = time.monotonic()
            await manager.close(grace=grace)
            took = time.monotonic() - started
            # one shared grace period: far below count * grace (stopping one by one)
            assert took < grace * 4, took
            assert not any(pid is not None and alive(pid) for pid in pids)
            assert all(t.last_status == "STOPPED" for t in manager.store.tasks())

    asyncio.run(scenario())


def test_usage_and_default_capacity() -> None:
    capacity = Capacity(cpu_units=1024, memory_mib=2048, max_tasks=4)
    usage = Usage()
    assert usage.shortage(capacity, 512, 512) == ""
    usage.add(512, 512)
    usage.add(512, 512)
    assert "CPU units" in usage.shortage(capacity, 256, None)
    assert usage.shortage(capacity, None, 1024) == ""
    usage.add(None, 1024)
    assert "memory" in usage.shortage(capacity, None, 1)
    usage.add(-1024, -2048)  # as if two tasks' reservations were freed
    usage.add(None, None)
    assert "--max-tasks" in usage.shortage(capacity, None, None)
    assert default_max_tasks(2, 24_000) == 64
    assert default_max_tasks(64, 1_000_000) == 1024
    assert default_max_tasks(8, 256) == 8
    machine = Capacity.of_machine(max_tasks=7)
    assert machine.max_tasks == 7 and machine.cpu_units % 1024 == 0


def test_stopped_tasks_are_pruned_to_a_bound(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    try:
        store = EcsStore(db)
        now = time.time()
        store.insert_tasks(
            TaskRecord(
                id=f"t{i:03d}",
                cluster="default",
                service="svc",
                deployment_id=None,
                task_definition="small:1",
                cpu_units=None,
                memory_mib=None,
                last_status="STOPPED" if i < 30 else "RUNNING",
                desired_status="STOPPED" if i < 30 else "RUNNING",
                pid=None,
                proc_start=None,
                container_id="c",
                created_at=now,
                started_at=None,
                stopping_at=None,
                stopped_at=now - 100 + i if i < 30 else None,
                stop_code=None,
                stopped_reason=None,
                exit_code=None,
                limits_enforced=False,
                started_by=None,
            )
            for i in range(32)
        )
        assert store.prune_stopped_tasks(older_than=95.5) == 5  # stopped 100..96 s ago
        assert store.prune_stopped_tasks(keep_at_most=10) == 15
        left = {t.id for t in store.tasks()}
        assert left == {f"t{i:03d}" for i in range(20, 32)}  # the newest stopped, the live
    finally:
        db.close()
