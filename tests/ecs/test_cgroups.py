"""cgroup detection, limits, and a CPU-bound task held to a quarter of a core.

The detection and file-writing logic is checked on a fake cgroup tree (a
temporary directory described by made-up ``/proc`` texts). Tests that need
the real kernel run only where this process may create cgroups, and skip
saying why otherwise.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from montemap.ecs.cgroups import (
    CgroupManager,
    cpu_quota_us,
    parse_mountinfo,
    parse_proc_cgroup,
)
from montemap.ecs.taskdefs import PREDEFINED

from .test_service_support import (
    PY,
    live_tasks,
    open_manager,
    private_cgroup_parent,
    register,
    running,
    wait_for,
)

HYBRID_MOUNTINFO = """\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 /docker/abc /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids
"""
HYBRID_PROC = "12:pids:/\n4:memory:/docker/abc/inner\n3:cpu,cpuacct:/user.slice\n0::/init.scope\n"


def test_parse_mountinfo_and_proc_cgroup() -> None:
    mounts = parse_mountinfo(HYBRID_MOUNTINFO)
    assert [(m.fstype, str(m.point)) for m in mounts] == [
        ("cgroup2", "/sys/fs/cgroup/unified"),
        ("cgroup", "/sys/fs/cgroup/cpu,cpuacct"),
        ("cgroup", "/sys/fs/cgroup/memory"),
        ("cgroup", "/sys/fs/cgroup/my dir"),
    ]
    assert "cpu" in mounts[1].options and "cpuacct" in mounts[1].options
    assert mounts[2].root == "/docker/abc"
    own = parse_proc_cgroup(HYBRID_PROC)
    assert own == {
        "pids": "/",
        "memory": "/docker/abc/inner",
        "cpu": "/user.slice",
        "cpuacct": "/user.slice",
        "": "/init.scope",
    }


def test_cpu_quota() -> None:
    assert cpu_quota_us(256) == 25_000  # small: a quarter of a core
    assert cpu_quota_us(512) == 50_000
    assert cpu_quota_us(2048) == 200_000  # two cores
    assert cpu_quota_us(1) == 1_000  # the kernel's minimum
    with pytest.raises(ValueError):
        cpu_quota_us(0)


def _fake_v2(root: Path, controllers: str) -> CgroupManager:
    own = root / "svc"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(controllers + "\n")
    (own / "cgroup.subtree_control").write_text("")
    mountinfo = f"40 25 0:30 / {root} rw - cgroup2 cgroup2 rw\n"
    return CgroupManager(parent="mm", mountinfo=mountinfo, proc_cgroup="0::/svc\n")


def test_v2_limits_are_written(tmp_path: Path) -> None:
    manager = _fake_v2(tmp_path, "cpuset cpu io memory pids")
    support = manager.support
    assert support.limits_enforced, support.reason
    assert support.version == 2
    assert (tmp_path / "svc" / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (tmp_path / "svc" / "mm" / "cgroup.subtree_control").read_text() == "+cpu +memory"
    group = manager.create("t1", cpu_units=256, memory_mib=512)
    directory = tmp_path / "svc" / "mm" / "t1"
    assert group.dirs == [directory]
    assert (directory / "cpu.max").read_text() == "25000 100000"
    assert (directory / "memory.max").read_text() == str(512 * 1024 * 1024)
    group.attach(4242)
    assert (directory / "cgroup.procs").read_text() == "4242"
    unlimited = manager.create("t2", cpu_units=None, memory_mib=None)
    assert not (unlimited.dirs[0] / "cpu.max").exists()


def test_v2_without_controllers_is_reported(tmp_path: Path) -> None:
    manager = _fake_v2(tmp_path, "pids")
    support = manager.support
    assert not support.limits_enforced
    assert "cpu, memory not available" in support.reason
    assert "no cpu hierarchy mounted" in support.reason  # and no v1 fallback either
    with pytest.raises(RuntimeError, match="not enforced"):
        manager.create("t1", cpu_units=256, memory_mib=512)


def test_disabled_and_missing_cgroupfs_are_reported() -> None:
    disabled = CgroupManager(enabled=False).support
    assert not disabled.limits_enforced and "disabled" in disabled.reason
    nothing = CgroupManager(mountinfo="", proc_cgroup="").support
    assert not nothing.limits_enforced
    assert "no unified hierarchy" in nothing.reason
    assert nothing.as_dict()["limits_enforced"] is False


def test_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="plain directory name"):
        CgroupManager(parent="../escape")


# --------------------------------------------------------------------------- the real kernel


def _real_manager() -> CgroupManager:
    manager = CgroupManager(parent=private_cgroup_parent())
    if not manager.support.limits_enforced:
        pytest.skip(f"cgroups not available to this process: {manager.support.reason}")
    return manager


BURN = (
    "import json, time\n"
    "t0, c0 = time.monotonic(), time.process_time()\n"
    "while time.monotonic() - t0 < {seconds}: pass\n"
    "print('RESULT', json.dumps({{'cpu': time.process_time() - c0, 'wall': time.monotonic() - t0}}),"
    " flush=True)\n"
)


def test_real_group_limits_a_process() -> None:
    manager = _real_manager()
    try:
        group = manager.create("direct", cpu_units=256, memory_mib=256)
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
        )
        try:
            group.attach(proc.pid)
            assert group.pids() == [proc.pid]
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(5)
        assert group.remove()
        assert all(not d.exists() for d in group.dirs)
    finally:
        manager.close()


def test_small_worker_gets_a_quarter_core(tmp_path: Path) -> None:
    """A CPU-bound task in a ``small`` (256 units) task gets about 0.25 of a core."""
    cgroups = _real_manager()
    cpu, memory = PREDEFINED["small"]
    command = [PY, "-c", BURN.format(seconds=2.0) + "import time; time.sleep(600)\n"]
    logs = tmp_path / "logs"

    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db", cgroups=cgroups, log_dir=logs) as manager:
            assert manager.status()["limits_enforced"] is True
            register(manager.store, "burn", command, cpu=str(cpu), memory=str(memory))
            definition = manager.store.resolve_task_definition("burn")
            assert definition is not None
            manager.store.create_service("default", "svc", definition, 1, "FARGATE", {})
            manager.wake()
            await manager.wait_until(running(manager, "svc", 1), 10)
            task = live_tasks(manager.store, "svc")[0]
            assert task.limits_enforced
            path = manager.log_path(task)
            assert path is not None
            await wait_for(lambda: path.exists() and "RESULT" in path.read_text(), 20)
            line = next(x for x in path.read_text().splitlines() if x.startswith("RESULT"))
            result = json.loads(line.split(" ", 1)[1])
            share = result["cpu"] / result["wall"]
            # at most a quarter of a core (plus scheduling slack); the machine is shared, so
            # the lower bound is loose
            assert 0.08 < share < 0.32, share
            group = cgroups.group(task.id)
            assert group is not None and group.throttled_periods() > 0
            service = manager.store.get_service("default", "svc")
            assert service is not None
            manager.store.update_service(
                service, desired_count=0, task_definition=None, force_new_deployment=False
            )
            manager.wake()
            await manager.wait_until(running(manager, "svc", 0), 10)
            assert cgroups.group(task.id) is None  # removed with the task

    asyncio.run(scenario())
