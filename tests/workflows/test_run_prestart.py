"""``montemap run``'s fixed costs: the functions' process started ahead, install without rewrites.

A real embedded server on loopback, as ``montemap run`` starts it.
"""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from montemap.assembly import BUILTIN_FUNCTIONS
from montemap.ecs.taskdefs import TaskRecord
from montemap.testing import eventually
from montemap.workflows import bindings
from montemap.workflows.client import ROLE_ARN, Clients, WorkflowClient
from montemap.workflows.embedded import EmbeddedServer
from montemap.workflows.prestart import FUNCTION_MODULES
from montemap.workflows.progress import Progress

pytestmark = pytest.mark.timeout(120)


def _tcp_inodes() -> set[str]:
    """The inodes of every TCP socket on this machine (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        inodes.update(line.split()[9] for line in lines)
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` holds open."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _gone(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # reaped before or while reading
        return True


def test_the_run_command_loads_boto3_only_when_it_makes_its_clients() -> None:
    # the functions' process starts before the command pays for boto3's import
    probe = (
        "import json, sys; import montemap.workflows.cli; print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert [m for m in loaded if m.split(".")[0] in ("boto3", "botocore")] == []


def test_the_prestarted_modules_cover_the_builtin_functions() -> None:
    modules = {target.split(":")[0] for target in BUILTIN_FUNCTIONS.values()}
    assert modules <= set(FUNCTION_MODULES)


def test_the_warm_function_process_holds_no_server_socket_and_stops_with_the_server(
    tmp_path: Path,
) -> None:
    server = EmbeddedServer(tmp_path, cgroups=False, warm_functions=FUNCTION_MODULES)
    assert server.functions_warm is not None
    server.start()
    try:
        # a client connection is open while the function process is started and used
        clients = Clients.for_endpoint(server.url)
        clients.sfn.list_activities()
        pid = server.functions_warm.result(timeout=90)
        tcp = _tcp_inodes()
        assert _socket_inodes(os.getpid()) & tcp  # this process holds the server's sockets
        forkserver_pid = _parent(pid)
        for holder in (pid, forkserver_pid):
            assert not _socket_inodes(holder) & tcp, f"process {holder} holds a TCP socket"
        pool = {p.pid for p in multiprocessing.active_children()}
        registry = server.montemap.functions
        # the partition's first call: an event it refuses, run in the warm process
        payload, error = asyncio.run(registry.invoke("PartitionInventory", {}, {}))
        assert error == "FunctionInputError", payload
        assert not {p.pid for p in multiprocessing.active_children()} - pool
    finally:
        server.stop()
    eventually(lambda: _gone(pid), timeout=30, what=f"function process {pid} to exit")


def test_a_server_without_a_warm_up_starts_no_function_process(tmp_path: Path) -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    with EmbeddedServer(tmp_path, cgroups=False) as server:
        assert server.functions_warm is None
        Clients.for_endpoint(server.url).sfn.list_activities()
        assert not {p.pid for p in multiprocessing.active_children()} - before


def test_installing_again_rewrites_no_state_machine(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path, cgroups=False) as server:
        clients = Clients.for_endpoint(server.url)
        arns = WorkflowClient(clients).install()
        first = {w: clients.sfn.describe_state_machine(stateMachineArn=a) for w, a in arns.items()}
        WorkflowClient(clients).install()
        for workflow, arn in arns.items():
            again = clients.sfn.describe_state_machine(stateMachineArn=arn)
            assert again.get("revisionId") == first[workflow].get("revisionId")
            assert again.get("updateDate") == first[workflow].get("updateDate")
        # a definition that differs is still updated
        name = bindings.STATE_MACHINE_NAMES["data-processing"]
        arn = arns["data-processing"]
        clients.sfn.update_state_machine(
            stateMachineArn=arn,
            definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        )
        WorkflowClient(clients).install()
        restored = clients.sfn.describe_state_machine(stateMachineArn=arn)
        assert restored["name"] == name
        assert restored["definition"] == first["data-processing"]["definition"]


def test_the_end_of_an_execution_wakes_the_wait_at_once(tmp_path: Path) -> None:
    waiting = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    with EmbeddedServer(tmp_path, cgroups=False) as server:
        clients = Clients.for_endpoint(server.url)
        machine = clients.sfn.create_state_machine(
            name="waiting", definition=json.dumps(waiting), roleArn=ROLE_ARN
        )["stateMachineArn"]
        arn = clients.sfn.start_execution(stateMachineArn=machine)["executionArn"]
        quiet = Progress(SimpleNamespace(loans=1), quiet=True, stream=io.StringIO())
        found: list[dict[str, Any]] = []
        listeners = list(server.montemap.engine.history_listeners)
        with server.history_signal(arn) as wake:
            # polls every 10 minutes: only the signal can end this wait within the test
            waiter = threading.Thread(
                target=lambda: found.append(
                    WorkflowClient(clients).wait(arn, quiet, interval=600, wake=wake)
                ),
                daemon=True,
            )
            waiter.start()
            eventually(lambda: found, timeout=60, what="the wait to see the execution's end")
        assert found[0]["status"] == "SUCCEEDED"
        assert server.montemap.engine.history_listeners == listeners  # the signal is gone


def _stopped_task(number: int, started: float) -> TaskRecord:
    return TaskRecord(
        id=f"{number:032x}",
        cluster=bindings.CLUSTER,
        service=bindings.SERVICE,
        deployment_id=None,
        task_definition="small:1",
        cpu_units=256,
        memory_mib=512,
        last_status="STOPPED",
        desired_status="STOPPED",
        pid=None,
        proc_start=None,
        container_id="worker",
        created_at=started,
        started_at=started,
        stopping_at=started + 10,
        stopped_at=started + 10,
        stop_code="ServiceSchedulerInitiated",
        stopped_reason="scaled in",
        exit_code=0,
        limits_enforced=False,
        started_by=None,
    )


def test_the_cost_counts_this_run_s_tasks_behind_a_page_of_earlier_ones(
    tmp_path: Path,
) -> None:
    with EmbeddedServer(tmp_path, cgroups=False) as server:
        clients = Clients.for_endpoint(server.url)
        client = WorkflowClient(clients)
        client.install()
        now = time.time()
        earlier = [_stopped_task(n, now - 600 - n) for n in range(1, 131)]  # 130 earlier tasks
        ours = [_stopped_task(1000 + n, now + n) for n in range(3)]
        server.montemap.ecs_store.insert_tasks(earlier + ours)
        usage = client.task_usage(since=now)
        assert sorted(u.seconds for u in usage) == [10.0, 10.0, 10.0]
        assert {(u.cpu_units, u.memory_mib) for u in usage} == {(256, 512)}
