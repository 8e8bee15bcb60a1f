"""A scale-out's tasks start together; a task dies with the server that started it.

The service manager shares its event loop with the server's APIs and the
engine. A scale-out to N tasks must start all N in one pass, without handing
the loop to anything else between two of them (it used to await each spawn,
and a busy loop spread eight launches over ~6 s). Tasks are started without a
``preexec_fn`` (which made Python ``fork()`` the whole server), so the
parent-death signal is set another way: a server killed with SIGKILL must
still take its tasks with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from montemap.ecs.processes import spawn
from montemap.testing import eventually

from .test_service_support import SLEEPER, alive, live_tasks, open_manager, register, running

#: Tasks in the scale-out; more than one, fewer than the launch batch.
TASKS = 6


def test_a_scale_out_starts_every_task_before_the_loop_runs_anything_else(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with open_manager(tmp_path / "m.db") as manager:
            register(manager.store, "sleeper", SLEEPER)
            definition = manager.store.resolve_task_definition("sleeper")
            assert definition is not None
            manager.store.create_service("default", "svc", definition, 0, "FARGATE", {})
            seen: set[int] = set()
            done = asyncio.Event()

            async def observe() -> None:
                # Runs between any two steps of the loop: the running counts it sees.
                while not done.is_set():
                    seen.add(manager.counts("default", "svc")[0])
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(observe())
            await asyncio.sleep(0)
            service = manager.store.get_service("default", "svc")
            assert service is not None
            manager.store.update_service(
                service, desired_count=TASKS, task_definition=None, force_new_deployment=False
            )
            manager.wake()
            await manager.wait_until(running(manager, "svc", TASKS), 30)
            done.set()
            await watcher
            assert seen == {0, TASKS}, f"the loop ran between launches: saw {sorted(seen)}"
            messages = [e["message"] for e in manager.events("default", "svc")]
            assert any(f"has started {TASKS} tasks" in m for m in messages), messages
            pids = {t.pid for t in live_tasks(manager.store, "svc")}
            assert len(pids) == TASKS and all(p is not None and alive(p) for p in pids)

    asyncio.run(scenario())


def test_spawn_refuses_a_missing_program_before_starting_anything(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-program"
    with pytest.raises(FileNotFoundError, match="no-such-program"):
        spawn([str(missing)], dict(os.environ), subprocess.DEVNULL)
    not_executable = tmp_path / "plain-file"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        spawn([str(not_executable)], dict(os.environ), subprocess.DEVNULL)
    with pytest.raises(FileNotFoundError):
        spawn(["montemap-no-such-command"], {"PATH": str(tmp_path)}, subprocess.DEVNULL)


def test_spawn_runs_the_program_itself_in_its_own_session(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with open(out, "wb") as output:
        process = spawn(
            ["sh", "-c", 'echo "$0 $$ $(ps -o sid= -p $$)" "$FOO"', "named"],
            {"PATH": os.environ["PATH"], "FOO": "bar"},
            output,
        )
    assert process.wait(timeout=30) == 0
    name, pid, sid, foo = out.read_text().split()
    assert (name, foo) == ("named", "bar")
    assert int(pid) == process.pid == int(sid)  # exec'd in place, session leader


_SERVER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from tests.ecs.test_service_support import SLEEPER, live_tasks, open_manager, register, running

    async def main():
        async with open_manager(Path(sys.argv[1])) as manager:
            register(manager.store, "sleeper", SLEEPER)
            definition = manager.store.resolve_task_definition("sleeper")
            manager.store.create_service("default", "svc", definition, 2, "FARGATE", {})
            manager.wake()
            await manager.wait_until(running(manager, "svc", 2), 60)
            print(json.dumps([t.pid for t in live_tasks(manager.store, "svc")]), flush=True)
            await asyncio.sleep(600)

    asyncio.run(main())
    """
)


def _in_setpriv(pid: int) -> bool:
    """Whether ``pid`` is still util-linux's ``setpriv``, before it execs the task."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name == "setpriv"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "no-setpriv-on-path"])
def test_tasks_die_with_a_server_killed_outright(tmp_path: Path, setpriv: bool) -> None:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    if not setpriv:  # the fallback: a preexec_fn sets the signal
        env["PATH"] = str(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(tmp_path / "m.db"), root],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
    )
    pids: list[int] = []
    try:
        assert server.stdout is not None
        pids = json.loads(server.stdout.readline())
        assert len(pids) == 2 and all(alive(p) for p in pids)
        # setpriv sets the parent-death signal after its own start, then execs the task:
        # a server killed before that (a loaded machine) would leave the task behind
        eventually(lambda: not any(_in_setpriv(p) for p in pids), timeout=30, what="exec'd")
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        eventually(lambda: not any(alive(p) for p in pids), timeout=30, what="tasks gone")
    finally:
        server.kill()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
        for pid in pids:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
