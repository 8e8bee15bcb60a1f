"""The service manager: real worker processes started, replaced and stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from montemap.ecs.service import Backoff, ServiceManager, process_start_ticks
from montemap.ecs.taskdefs import EcsStore, TaskRecord
from montemap.engine.db import Database

from .test_service_support import (
    CRASHER,
    PY,
    SLEEPER,
    STUBBORN,
    alive,
    kill_quietly,
    live_tasks,
    open_manager,
    register,
    running,
    wait_for,
)


def _scale(manager: ServiceManager, name: str, count: int) -> None:
    service = manager.store.get_service("default", name)
    assert service is not None
    manager.store.update_service(
        service, desired_count=count, task_definition=None, force_new_deployment=False
    )
    manager.wake()


def _create(manager: ServiceManager, name: str, family: str, count: int) -> None:
    definition = manager.store.resolve_task_definition(family)
    assert definition is not None
    manager.store.create_service("default", name, definition, count, "FARGATE", {})
    manager.wake()


def test_scale_out_and_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            register(manager.store, "sleeper", SLEEPER)
            _create(manager, "svc", "sleeper", 0)
            _scale(manager, "svc", 3)
            await manager.wait_until(running(manager, "svc", 3), 10)
            tasks = live_tasks(manager.store, "svc")
            pids = [t.pid for t in tasks]
            assert len(set(pids)) == 3
            for pid in pids:
                assert pid is not None and alive(pid)
                assert os.getpgid(pid) == pid  # its own process group
            assert manager.counts("default", "svc") == (3, 0)

            _scale(manager, "svc", 1)
            await manager.wait_until(running(manager, "svc", 1), 10)
            _scale(manager, "svc", 0)
            await manager.wait_until(running(manager, "svc", 0), 10)
            assert manager.counts("default", "svc") == (0, 0)
            await wait_for(lambda: not any(alive(p) for p in pids if p), 5, "processes gone")
            stopped = manager.store.tasks(cluster="default", service="svc", live=False)
            assert len(stopped) == 3
            assert {t.stop_code for t in stopped} == {"ServiceSchedulerInitiated"}
            assert all(t.exit_code == -signal.SIGTERM for t in stopped)
            messages = [e["message"] for e in manager.events("default", "svc")]
            assert any("has started 3 tasks" in m for m in messages)
            assert any("has reached a steady state" in m for m in messages)

    asyncio.run(scenario())


def test_crashed_task_is_replaced(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            register(manager.store, "sleeper", SLEEPER)
            _create(manager, "svc", "sleeper", 2)
            await manager.wait_until(running(manager, "svc", 2), 10)
            victim = live_tasks(manager.store, "svc")[0]
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)

            def replaced() -> bool:
                ids = {t.id for t in live_tasks(manager.store, "svc")}
                return running(manager, "svc", 2)() and victim.id not in ids

            await manager.wait_until(replaced, 10)
            dead = manager.store.get_task(victim.id)
            assert dead is not None
            assert dead.last_status == "STOPPED"
            assert dead.stop_code == "EssentialContainerExited"
            assert dead.exit_code == -signal.SIGKILL

    asyncio.run(scenario())


def test_crash_loop_backs_off(tmp_path: Path) -> None:
    backoff = Backoff(base=0.2, maximum=0.8, stable_after=5.0)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", backoff=backoff) as manager:
            register(manager.store, "crasher", CRASHER)
            _create(manager, "svc", "crasher", 1)

            def crashes() -> list[TaskRecord]:
                return manager.store.tasks(cluster="default", service="svc", live=False)

            await manager.wait_until(lambda: len(crashes()) >= 4, 15)
            _scale(manager, "svc", 0)
            done = sorted(crashes(), key=lambda t: t.created_at)[:4]
            assert all(t.exit_code == 3 for t in done)
            assert all(t.stop_code == "EssentialContainerExited" for t in done)
            # each replacement waits longer: 0.2 s, 0.4 s, 0.8 s after the previous crash
            for before, after, delay in zip(done, done[1:], (0.2, 0.4, 0.8), strict=False):
                assert before.stopped_at is not None and after.started_at is not None
                assert after.started_at - before.stopped_at >= delay * 0.9
            messages = [e["message"] for e in manager.events("default", "svc")]
            assert any("restarting crashed tasks" in m for m in messages)

    asyncio.run(scenario())


def test_scale_in_kills_after_grace(tmp_path: Path) -> None:
    async def scenario() -> None:
        logs = tmp_path / "logs"
        async with open_manager(tmp_path / "m.db", stop_grace=0.5, log_dir=logs) as manager:
            register(manager.store, "stubborn", STUBBORN)
            _create(manager, "svc", "stubborn", 1)
            await manager.wait_until(running(manager, "svc", 1), 10)
            task = live_tasks(manager.store, "svc")[0]
            log_path = manager.log_path(task)
            assert log_path is not None
            await wait_for(lambda: log_path.exists() and "ready" in log_path.read_text(), 10)
            began = time.monotonic()
            _scale(manager, "svc", 0)
            await manager.wait_until(running(manager, "svc", 0), 10)
            took = time.monotonic() - began
            stopped = manager.store.get_task(task.id)
            assert stopped is not None
            assert stopped.exit_code == -signal.SIGKILL  # SIGTERM was ignored
            assert 0.4 <= took < 5

    asyncio.run(scenario())


def test_whole_process_group_is_stopped(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"
    spawner = [
        PY,
        "-c",
        "import subprocess, sys, time;"
        f" p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f" open({str(child_file)!r}, 'w').write(str(p.pid)); time.sleep(600)",
    ]

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            register(manager.store, "spawner", spawner)
            _create(manager, "svc", "spawner", 1)
            await manager.wait_until(running(manager, "svc", 1), 10)
            await wait_for(lambda: child_file.exists() and child_file.read_text() != "", 10)
            grandchild = int(child_file.read_text())
            try:
                assert alive(grandchild)
                _scale(manager, "svc", 0)
                await manager.wait_until(running(manager, "svc", 0), 10)
                await wait_for(lambda: not alive(grandchild), 5, "grandchild stopped")
            finally:
                kill_quietly(grandchild, signal.SIGKILL)

    asyncio.run(scenario())


def test_new_task_definition_replaces_tasks(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            store = manager.store
            register(store, "sleeper", SLEEPER)
            _create(manager, "svc", "sleeper", 2)
            await manager.wait_until(running(manager, "svc", 2), 10)
            old_ids = {t.id for t in live_tasks(store, "svc")}
            newer = register(store, "sleeper", SLEEPER, environment=[{"name": "V", "value": "2"}])
            service = store.get_service("default", "svc")
            assert service is not None
            store.update_service(
                service, desired_count=None, task_definition=newer, force_new_deployment=False
            )
            assert len(store.deployments("default", "svc")) == 2
            manager.wake()

            def rolled() -> bool:
                tasks = live_tasks(store, "svc")
                return running(manager, "svc", 2)() and all(
                    t.task_definition == newer.key for t in tasks
                )

            await manager.wait_until(rolled, 15)
            await manager.wait_until(lambda: len(store.deployments("default", "svc")) == 1, 5)
            (primary,) = store.deployments("default", "svc")
            assert primary.task_definition == newer.key
            await manager.wait_until(
                lambda: store.deployments("default", "svc")[0].rollout_state == "COMPLETED", 5
            )
            for task_id in old_ids:
                old = store.get_task(task_id)
                assert old is not None and old.last_status == "STOPPED"
                assert (
                    old.stopped_reason is not None
                    and "replaced by deployment" in old.stopped_reason
                )

    asyncio.run(scenario())


def test_templates_fill_command_and_environment(tmp_path: Path) -> None:
    command = [
        PY,
        "-c",
        "import os, sys; print('ARGS', sys.argv[1:], 'ENV', os.environ['WHO'], flush=True);"
        " import time; time.sleep(600)",
        "${endpoint}",
        "${task_id}",
        "$HOME-stays",
    ]

    async def scenario() -> None:
        variables: dict[str, str | None] = {"endpoint": "http://127.0.0.1:9"}
        logs = tmp_path / "logs"
        async with open_manager(tmp_path / "m.db", variables=variables, log_dir=logs) as manager:
            register(
                manager.store,
                "echo",
                command,
                environment=[{"name": "WHO", "value": "${cluster}/${service}/${cpu}"}],
                cpu="256",
            )
            _create(manager, "svc", "echo", 1)
            await manager.wait_until(running(manager, "svc", 1), 10)
            task = live_tasks(manager.store, "svc")[0]
            path = manager.log_path(task)
            assert path is not None
            await wait_for(lambda: path.exists() and "ARGS" in path.read_text(), 10)
            text = path.read_text()
            assert f"['http://127.0.0.1:9', '{task.id}', '$HOME-stays']" in text
            assert "ENV default/svc/256" in text

    asyncio.run(scenario())


def test_unset_template_variable_fails_to_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", variables={"endpoint": "http://x"}) as manager:
            _create(manager, "workers", "small", 1)  # the predefined worker needs activity_arn

            def failed() -> list[TaskRecord]:
                return manager.store.tasks(cluster="default", service="workers", live=False)

            await manager.wait_until(lambda: len(failed()) >= 1, 10)
            task = failed()[0]
            assert task.stop_code == "TaskFailedToStart"
            assert task.stopped_reason is not None
            assert "${activity_arn}" in task.stopped_reason
            _scale(manager, "workers", 0)

    asyncio.run(scenario())


def test_missing_command_binary_fails_to_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            register(manager.store, "nothing", [str(tmp_path / "no-such-program")])
            _create(manager, "svc", "nothing", 1)

            def failed() -> list[TaskRecord]:
                return manager.store.tasks(cluster="default", service="svc", live=False)

            await manager.wait_until(lambda: len(failed()) >= 1, 10)
            reason = failed()[0].stopped_reason or ""
            assert reason.startswith("CannotStartContainerError")
            assert "no-such-program" in reason
            _scale(manager, "svc", 0)

    asyncio.run(scenario())


def test_desired_state_survives_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            register(manager.store, "sleeper", SLEEPER)
            _create(manager, "svc", "sleeper", 2)
            await manager.wait_until(running(manager, "svc", 2), 10)
            first = {t.pid for t in live_tasks(manager.store, "svc")}
        # closed: the tasks were stopped but the desired count stays
        for pid in first:
            assert pid is not None and not alive(pid)
        async with open_manager(tmp_path / "m.db") as manager:
            await manager.wait_until(running(manager, "svc", 2), 10)
            again = {t.pid for t in live_tasks(manager.store, "svc")}
            assert again.isdisjoint(first)
            service = manager.store.get_service("default", "svc")
            assert service is not None and service.desired_count == 2

    asyncio.run(scenario())


def test_orphans_of_a_crashed_server_are_stopped(tmp_path: Path) -> None:
    """Tasks recorded as running by a server that died are stopped at startup."""
    orphan = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        db = Database(tmp_path / "m.db")
        store = EcsStore(db)
        store.register_predefined()
        definition = register(store, "sleeper", SLEEPER)
        store.insert_task(
            TaskRecord(
                id="orphan0000",
                cluster="default",
                service=None,
                deployment_id=None,
                task_definition=definition.key,
                cpu_units=None,
                memory_mib=None,
                last_status="RUNNING",
                desired_status="RUNNING",
                pid=orphan.pid,
                proc_start=process_start_ticks(orphan.pid),
                container_id="c",
                created_at=time.time(),
                started_at=time.time(),
                stopping_at=None,
                stopped_at=None,
                stop_code=None,
                stopped_reason=None,
                exit_code=None,
                limits_enforced=False,
                started_by=None,
            )
        )
        db.close()

        async def scenario() -> None:
            async with open_manager(tmp_path / "m.db") as manager:
                await wait_for(lambda: orphan.poll() is not None, 10, "orphan stopped")
                task = manager.store.get_task("orphan0000")
                assert task is not None and task.last_status == "STOPPED"
                assert task.stopped_reason is not None and "restarted" in task.stopped_reason

        asyncio.run(scenario())
        assert orphan.returncode == -signal.SIGTERM
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()


def test_backoff_delays() -> None:
    backoff = Backoff(base=1.0, maximum=10.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]
    db = Database(":memory:")
    try:
        with pytest.raises(ValueError, match="stop_grace"):
            ServiceManager(EcsStore(db), stop_grace=-1)
    finally:
        db.close()


SERVER_SCRIPT = """
import asyncio, sys
from montemap.engine.db import Database
from montemap.ecs.service import ServiceManager
from montemap.ecs.taskdefs import EcsStore

async def main():
    store = EcsStore(Database(sys.argv[1]))
    store.register_predefined()
    definition = store.register_task_definition(
        {"family": "s", "containerDefinitions": [
            {"name": "c", "command": [sys.executable, "-c", "import time; time.sleep(600)"]}]})
    store.create_service("default", "svc", definition, 1, "FARGATE", {})
    manager = ServiceManager(store)
    await manager.start()
    await manager.wait_until(
        lambda: any(t.last_status == "RUNNING" for t in store.tasks(live=True)), 10)
    print(store.tasks(live=True)[0].pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_tasks_die_with_a_killed_server(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [PY, "-c", SERVER_SCRIPT, str(tmp_path / "m.db")], stdout=subprocess.PIPE, text=True
    )
    worker = 0
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert alive(worker)
        server.kill()  # SIGKILL: no chance to stop its tasks
        server.wait()

        async def gone() -> None:
            await wait_for(lambda: not alive(worker), 5, "worker gone with its server")

        asyncio.run(gone())
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
        if worker:
            kill_quietly(worker, signal.SIGKILL)
