"""Tasks of montemap's worker are forked from a warm template, and look like any task.

Each test runs real ``python -m montemap.cli worker`` tasks under a real
service manager. Their handler is a probe module whose import reports what
the task's process sees (pid, parent, session, environment, arguments) and
then behaves as ``PROBE_MODE`` says: exit with a code, sleep, ignore
SIGTERM, or start a grandchild in its process group.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from montemap.cli import BLAS_THREADS_VARIABLE
from montemap.ecs.cgroups import CgroupManager
from montemap.ecs.service import ServiceManager
from montemap.ecs.taskdefs import TaskRecord
from montemap.ecs.warm_tasks import SWITCH
from montemap.testing import eventually

from .test_service_support import (
    PY,
    alive,
    kill_quietly,
    live_tasks,
    open_manager,
    private_cgroup_parent,
    register,
    running,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="warm tasks need Linux (fork, pidfd)"
)

ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:probe"

_PROBE = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    report = {
        "pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0), "pgid": os.getpgid(0),
        "env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd(), "path": sys.path[:2],
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    }
    mode = os.environ.get("PROBE_MODE", "exit:0")
    if mode == "group":
        report["grandchild"] = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"]).pid
    if mode in ("stubborn", "group"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "reports", f"{os.getpid()}.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(report, handle)
    os.replace(path + ".tmp", path)
    print("probe says hello on stdout", flush=True)
    print("probe says hello on stderr", file=sys.stderr, flush=True)
    if mode.startswith("exit:"):
        raise SystemExit(int(mode[5:]))
    time.sleep(600)
    """
)


def probe_dir(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "reports").mkdir(parents=True)
    (app / "probe.py").write_text(_PROBE)
    return app


def worker_command(app: Path, handler: str = "probe:handle") -> list[str]:
    return [
        *(PY, "-m", "montemap.cli", "worker"),
        *("--activity-arn", ACTIVITY, "--handler", handler),
        *("--app-dir", str(app), "--endpoint", "http://127.0.0.1:9"),
    ]


def start_service(
    manager: ServiceManager,
    command: list[str],
    count: int,
    *,
    limits: tuple[str, str] | None = None,
    **environment: str,
) -> None:
    pairs = [{"name": k, "value": v} for k, v in environment.items()]
    cpu, memory = limits if limits is not None else (None, None)
    register(manager.store, "probe", command, cpu=cpu, memory=memory, environment=pairs)
    definition = manager.store.resolve_task_definition("probe")
    assert definition is not None
    manager.store.create_service("default", "svc", definition, count, "FARGATE", {})
    manager.wake()


def reports(app: Path) -> dict[int, dict[str, Any]]:
    found = {}
    for path in (app / "reports").glob("*.json"):
        found[int(path.stem)] = json.loads(path.read_text())
    return found


async def reported(app: Path, count: int) -> dict[int, dict[str, Any]]:
    await wait_for(lambda: len(reports(app)) >= count, 60, f"{count} probe reports")
    return reports(app)


def tasks(manager: ServiceManager) -> list[TaskRecord]:
    return manager.store.tasks(cluster="default", service="svc")


def task_of(manager: ServiceManager, pid: int) -> TaskRecord:
    return next(t for t in tasks(manager) if t.pid == pid)


def test_a_worker_task_is_forked_warm_and_sees_only_its_own_environment(
    tmp_path: Path,
) -> None:
    app = probe_dir(tmp_path)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", log_dir=tmp_path / "logs") as manager:
            start_service(manager, worker_command(app), 2, PROBE_MODE="exit:7", EXTRA="x y")
            seen = await reported(app, 2)
            template = manager.warm.template_pid
            assert template is not None and alive(template)

            def started() -> list[TaskRecord]:
                return [task_of(manager, pid) for pid in list(seen)[:2]]

            await wait_for(lambda: all(t.exit_code is not None for t in started()), 30, "exits")
            for pid, report in list(seen.items())[:2]:
                task = task_of(manager, pid)
                assert report["ppid"] == template  # forked by the template, not spawned
                assert report["sid"] == report["pgid"] == pid
                assert task.exit_code == 7
                assert task.stopped_reason == "Essential container in task exited"
                definition = manager.store.resolve_task_definition(task.task_definition)
                assert definition is not None
                # the task's environment, and what the ``montemap`` command itself sets
                # where the task does not (one OpenBLAS thread)
                expected = dict(manager._command(task, definition)[1])
                expected.setdefault(BLAS_THREADS_VARIABLE, "1")
                assert report["env"] == expected
                assert report["env"]["HOSTNAME"] == task.id
                assert report["argv"][1:] == worker_command(app)[3:]
                assert Path(report["argv"][0]).name == "cli.py"
                assert report["cwd"] == os.getcwd()
                assert report["path"] == [str(app), os.getcwd()]  # --app-dir, then as -m has it
                assert report["fds"][:3] == [0, 1, 2] and len(report["fds"]) <= 4
                log_path = manager.log_path(task)
                assert log_path is not None
                text = log_path.read_text()
                assert "probe says hello on stdout" in text
                assert "probe says hello on stderr" in text

    asyncio.run(scenario())


def test_a_worker_service_starts_the_template_before_it_scales_out(tmp_path: Path) -> None:
    app = probe_dir(tmp_path)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            start_service(manager, worker_command(app), 0, PROBE_MODE="sleep")
            await wait_for(lambda: manager.warm.is_ready, 60, "the template ready")
            template = manager.warm.template_pid
            assert template is not None and alive(template)
            assert manager.store.tasks(cluster="default", service="svc") == []
            service = manager.store.get_service("default", "svc")
            assert service is not None
            manager.store.update_service(
                service, desired_count=2, task_definition=None, force_new_deployment=False
            )
            manager.wake()
            seen = await reported(app, 2)
            assert [r["ppid"] for r in seen.values()] == [template, template]

    asyncio.run(scenario())


def test_stop_task_stops_a_warm_tasks_whole_group_after_the_grace(tmp_path: Path) -> None:
    app = probe_dir(tmp_path)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", stop_grace=1.0) as manager:
            start_service(manager, worker_command(app), 1, PROBE_MODE="group")
            (pid, report), *_ = (await reported(app, 1)).items()
            assert report["ppid"] == manager.warm.template_pid
            grandchild = report["grandchild"]
            try:
                assert alive(pid) and alive(grandchild)
                await manager.stop_task(task_of(manager, pid).id, "test stop")
                await wait_for(lambda: task_of(manager, pid).last_status == "STOPPED", 30)
                task = task_of(manager, pid)
                assert (task.stop_code, task.stopped_reason) == ("UserInitiated", "test stop")
                assert task.exit_code == -signal.SIGKILL  # it ignored SIGTERM for the grace
                await wait_for(lambda: not alive(grandchild), 10, "grandchild killed")
            finally:
                kill_quietly(grandchild, signal.SIGKILL)

    asyncio.run(scenario())


def test_a_warm_task_runs_in_its_own_cgroup(tmp_path: Path) -> None:
    cgroups = CgroupManager(parent=private_cgroup_parent())
    if not cgroups.support.limits_enforced:
        pytest.skip(f"cgroups not available to this process: {cgroups.support.reason}")
    app = probe_dir(tmp_path)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", cgroups=cgroups) as manager:
            start_service(
                manager, worker_command(app), 1, limits=("256", "512"), PROBE_MODE="sleep"
            )
            (pid, report), *_ = (await reported(app, 1)).items()
            assert report["ppid"] == manager.warm.template_pid
            (task,) = live_tasks(manager.store, "svc")
            assert task.pid == pid and task.limits_enforced
            group = cgroups.group(task.id)
            assert group is not None and group.pids() == [pid]
            service = manager.store.get_service("default", "svc")
            assert service is not None
            manager.store.update_service(
                service, desired_count=0, task_definition=None, force_new_deployment=False
            )
            manager.wake()
            await manager.wait_until(running(manager, "svc", 0), 30)
            assert cgroups.group(task.id) is None  # removed with the task

    asyncio.run(scenario())


_SERVER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from tests.ecs.test_service_support import live_tasks, open_manager, running
    from tests.ecs.test_warm_tasks import start_service, worker_command

    async def main():
        async with open_manager(Path(sys.argv[1]) / "m.db") as manager:
            command = worker_command(Path(sys.argv[1]) / "app")
            start_service(manager, command, 2, PROBE_MODE="sleep")
            await manager.wait_until(running(manager, "svc", 2), 60)
            pids = [t.pid for t in live_tasks(manager.store, "svc")]
            print(json.dumps([manager.warm.template_pid, *pids]), flush=True)
            await asyncio.sleep(600)

    asyncio.run(main())
    """
)


def test_warm_tasks_and_their_template_die_with_a_server_killed_outright(tmp_path: Path) -> None:
    probe_dir(tmp_path)
    root = str(Path(__file__).resolve().parents[2])
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(tmp_path), root],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pids: list[int] = []
    try:
        assert server.stdout is not None
        pids = json.loads(server.stdout.readline())
        assert len(pids) == 3 and all(alive(p) for p in pids)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        eventually(lambda: not any(alive(p) for p in pids), timeout=30, what="tasks gone")
    finally:
        server.kill()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
        for pid in pids:
            kill_quietly(pid, signal.SIGKILL)


def test_a_template_that_cannot_start_leaves_tasks_to_start_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = probe_dir(tmp_path)
    command = worker_command(app, handler="montemap.no_such_module:handle")

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", log_dir=tmp_path / "logs") as manager:
            start_service(manager, command, 1)
            await wait_for(
                lambda: sum(t.exit_code is not None for t in tasks(manager)) >= 2, 60, "2 exits"
            )
            assert not manager.warm.is_ready
            for task in [t for t in tasks(manager) if t.exit_code is not None][:2]:
                assert task.exit_code == 1  # the worker's own error, from a spawned process
                log_path = manager.log_path(task)
                assert log_path is not None
                assert "cannot import 'montemap.no_such_module'" in log_path.read_text()

    with caplog.at_level(logging.WARNING, logger="montemap.ecs.warm_tasks"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.name == "montemap.ecs.warm_tasks"]
    assert len(warnings) == 1 and "no_such_module" in warnings[0].getMessage()


def test_tasks_start_as_processes_again_once_the_template_died(tmp_path: Path) -> None:
    app = probe_dir(tmp_path)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            start_service(manager, worker_command(app), 1, PROBE_MODE="sleep")
            (first, report), *_ = (await reported(app, 1)).items()
            template = manager.warm.template_pid
            assert template is not None and report["ppid"] == template
            os.kill(template, signal.SIGKILL)  # its task gets SIGTERM (its parent died)
            await wait_for(lambda: task_of(manager, first).last_status == "STOPPED", 30)
            assert task_of(manager, first).exit_code is None  # nobody could reap it for us
            seen = await reported(app, 2)
            (second,) = set(seen) - {first}
            assert seen[second]["ppid"] == os.getpid()  # the replacement was spawned

    asyncio.run(scenario())


@pytest.mark.parametrize("where", ["server", "task"])
def test_the_switch_starts_worker_tasks_as_processes_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    app = probe_dir(tmp_path)
    if where == "server":
        monkeypatch.setenv(SWITCH, "0")
    extra = {SWITCH: "0"} if where == "task" else {}

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            # limits named, so that mypy matches ``**extra`` with the environment alone
            start_service(manager, worker_command(app), 2, limits=None, PROBE_MODE="sleep", **extra)
            seen = await reported(app, 2)
            assert all(report["ppid"] == os.getpid() for report in seen.values())
            assert not manager.warm.started

    asyncio.run(scenario())


def test_a_worker_task_with_another_environment_is_spawned(tmp_path: Path) -> None:
    app = probe_dir(tmp_path)

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            start_service(manager, worker_command(app), 1, PROBE_MODE="sleep")
            (first, report), *_ = (await reported(app, 1)).items()
            assert report["ppid"] == manager.warm.template_pid
            # the same command, but a variable the template was not started with
            pairs = [{"name": "PROBE_MODE", "value": "sleep"}, {"name": "OTHER", "value": "1"}]
            register(manager.store, "other", worker_command(app), environment=pairs)
            definition = manager.store.resolve_task_definition("other")
            assert definition is not None
            manager.store.create_service("default", "svc2", definition, 1, "FARGATE", {})
            manager.wake()
            seen = await reported(app, 2)
            (second,) = set(seen) - {first}
            assert seen[second]["ppid"] == os.getpid()
            assert seen[second]["env"]["OTHER"] == "1"

    asyncio.run(scenario())


def test_other_commands_are_spawned_as_before(tmp_path: Path) -> None:
    app = probe_dir(tmp_path)
    command = [PY, str(app / "probe.py")]

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            start_service(manager, command, 1, PROBE_MODE="sleep")
            seen = await reported(app, 1)
            assert [r["ppid"] for r in seen.values()] == [os.getpid()]
            assert not manager.warm.started

    asyncio.run(scenario())
