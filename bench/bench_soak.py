"""Soak: mixed traffic for a while, then SIGKILL, restart, and count what was lost.

Starts a real ``montemap server`` on loopback and runs, for ``--duration``
seconds (600 by default; ``--duration 60`` for a quick run):

* starter threads that start executions of three small machines: one whose
  Task is an activity (most of them), one of Pass / Wait 0 / Succeed, one
  that ends in Fail; the starters hold the activity backlog to a few tasks
  per worker, so the rate is the one the server sustains;
* worker threads that long-poll ``GetActivityTask``, send a heartbeat for
  every third task, and answer ``SendTaskSuccess`` with an output naming the
  task; each 200 answer is an acknowledged result;
* a thread that sends bad requests (100,000-deep JSON, ``NaN``, lone
  surrogates, 5,000-digit integers, bad ARNs, unknown actions, ECS garbage),
  all of which must be answered 4xx;
* a sampler of the server's RSS (psutil if installed, else /proc).

At the end the server is SIGKILLed in the middle of the traffic, restarted,
and the workers drain what is left. Then every activity execution's history
is read: a **lost** result is an acknowledged SendTaskSuccess whose output is
not in its execution's history; a **duplicated** one is an execution with
more than one ActivitySucceeded (or a task handed out again after its result
was acknowledged). Both must be 0. Prints a markdown table and JSON.

    .venv/bin/python bench/bench_soak.py --duration 60
    .venv/bin/python bench/bench_soak.py --duration 600 --workers 8 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

try:
    from bench._server import cpu_seconds, free_port, wait_healthy
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._server import cpu_seconds, free_port, wait_healthy

SFN = ("AWSStepFunctions.", "application/x-amz-json-1.0")
ECS = ("AmazonEC2ContainerServiceV20141113.", "application/x-amz-json-1.1")
ROLE = "arn:aws:iam::123456789012:role/soak"
#: Seconds a task handed to a worker that died with the server waits before it times out.
HEARTBEAT_SECONDS = 10


class Wire:
    """A keep-alive JSON 1.0/1.1 client that returns the status (unsigned: loopback)."""

    def __init__(self, port: int, timeout: float = 90.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def raw(self, action: str, body: bytes, service: tuple[str, str] = SFN) -> tuple[int, bytes]:
        head = (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Amz-Target: {service[0]}{action}\r\nContent-Type: {service[1]}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            self._fill()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, data

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        status, data = self.raw(action, json.dumps(params).encode())
        if status != 200:
            raise RuntimeError(f"{action}: {status} {data[:300]!r}")
        result: dict[str, Any] = json.loads(data) if data else {}
        return result

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk


def rss_mb(pid: int) -> float:
    try:
        import psutil  # optional

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """The ``montemap server`` subprocess: start, SIGKILL, start again on the same data."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(os.path.dirname(data_dir), "server.log")

    def start(self) -> float:
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "montemap.api.cli",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    self.data_dir,
                    "--log-level",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(self.port, self.proc)
        return time.perf_counter() - started

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def errors_logged(self) -> int:
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if " ERROR " in line)


@dataclass
class Ledger:
    """What the traffic did, shared by the threads (a lock around every update)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    started: dict[str, str] = field(default_factory=dict)  # execution name -> machine kind
    arns: dict[str, str] = field(default_factory=dict)  # execution name -> ARN
    acked: dict[str, str] = field(default_factory=dict)  # execution name -> output sent
    handed_after_ack: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, float]] = field(default_factory=list)

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def backlog(self) -> int:
        with self.lock:
            return self.counts["start activity"] - self.counts["task received"]


@dataclass
class Setup:
    activity: str
    machines: dict[str, str]  # kind -> state machine ARN


def create_resources(port: int) -> Setup:
    api = Wire(port)
    activity = api.call("CreateActivity", {"name": "soak"})["activityArn"]
    definitions = {
        "activity": {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Next": "Work"},
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "HeartbeatSeconds": HEARTBEAT_SECONDS,
                    "End": True,
                },
            },
        },
        "pass": {
            "StartAt": "P",
            "States": {
                "P": {"Type": "Pass", "Result": {"ok": True}, "ResultPath": "$.r", "Next": "W"},
                "W": {"Type": "Wait", "Seconds": 0, "Next": "S"},
                "S": {"Type": "Succeed"},
            },
        },
        "fail": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Soak.Fail"}}},
    }
    machines = {}
    for kind, definition in definitions.items():
        machines[kind] = api.call(
            "CreateStateMachine",
            {"name": f"soak-{kind}", "definition": json.dumps(definition), "roleArn": ROLE},
        )["stateMachineArn"]
    api.close()
    return Setup(activity, machines)


def starter(port: int, setup: Setup, ledger: Ledger, stop: threading.Event, cap: int) -> None:
    """Start executions (70 % activity, 20 % pass, 10 % fail), the activity backlog held to ``cap``."""
    api = Wire(port)
    rng = random.Random()
    try:
        while not stop.is_set():
            kind = rng.choices(["activity", "pass", "fail"], [7, 2, 1])[0]
            if kind == "activity" and ledger.backlog() >= cap:
                time.sleep(0.005)
                continue
            name = uuid.uuid4().hex
            result = api.call(
                "StartExecution",
                {
                    "stateMachineArn": setup.machines[kind],
                    "name": name,
                    "input": json.dumps({"id": name, "kind": kind}),
                },
            )
            with ledger.lock:
                ledger.started[name] = kind
                ledger.arns[name] = result["executionArn"]
                ledger.counts[f"start {kind}"] += 1
    except (OSError, RuntimeError) as exc:
        ledger.count(f"starter stopped: {type(exc).__name__}")
    finally:
        api.close()


def worker(port: int, setup: Setup, ledger: Ledger, stop: threading.Event, index: int) -> None:
    """Poll, heartbeat every third task, answer; record each acknowledged result."""
    try:
        api = Wire(port)
    except OSError:
        return
    try:
        while not stop.is_set():
            task = api.call(
                "GetActivityTask", {"activityArn": setup.activity, "workerName": f"w{index}"}
            )
            token = task.get("taskToken")
            if not token:
                ledger.count("empty poll")
                continue
            name = json.loads(task["input"])["id"]
            with ledger.lock:
                ledger.counts["task received"] += 1
                if name in ledger.acked:
                    ledger.handed_after_ack.append(name)
                beat = ledger.counts["task received"] % 3 == 0
            if beat:
                api.call("SendTaskHeartbeat", {"taskToken": token})
                ledger.count("heartbeat")
            output = json.dumps({"id": name, "worker": index, "nonce": uuid.uuid4().hex})
            api.call("SendTaskSuccess", {"taskToken": token, "output": output})
            with ledger.lock:
                ledger.acked[name] = output
                ledger.counts["result acknowledged"] += 1
    except (OSError, RuntimeError) as exc:
        ledger.count(f"worker stopped: {type(exc).__name__}")
    finally:
        api.close()


def bad_bodies(setup: Setup) -> list[tuple[str, bytes, tuple[str, str]]]:
    deep = b"[" * 100_000 + b"]" * 100_000
    machine = setup.machines["pass"]
    return [
        ("StartExecution", deep, SFN),
        ("StartExecution", json.dumps({"stateMachineArn": machine, "input": "NaN"}).encode(), SFN),
        (
            "StartExecution",
            json.dumps({"stateMachineArn": machine, "input": '{"a": "\\ud800"}'}).encode(),
            SFN,
        ),
        (
            "StartExecution",
            json.dumps({"stateMachineArn": machine, "input": "9" * 5000}).encode(),
            SFN,
        ),
        ("StartExecution", b'{"stateMachineArn": NaN}', SFN),
        (
            "StartExecution",
            ('{"stateMachineArn": "' + machine + '", "name": "\ud800"}').encode(
                "utf-8", "surrogatepass"
            ),
            SFN,
        ),
        (
            "DescribeExecution",
            b'{"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:x:y"}',
            SFN,
        ),
        (
            "DeleteStateMachine",
            b'{"stateMachineArn": "arn:aws:states:us-east-1:999999999999:stateMachine:x"}',
            SFN,
        ),
        ("SendTaskSuccess", b'{"taskToken": "forged", "output": "{}"}', SFN),
        ("SendTaskSuccess", b'{"taskToken": "' + b"A" * 2000 + b'", "output": "Infinity"}', SFN),
        ("SendTaskHeartbeat", b'{"taskToken": ""}', SFN),
        ("NoSuchAction", b"{}", SFN),
        (
            "CreateStateMachine",
            b'{"name": "x", "definition": "{", "roleArn": "' + ROLE.encode() + b'"}',
            SFN,
        ),
        ("ListExecutions", b'{"stateMachineArn": 12}', SFN),
        (
            "CreateService",
            b'{"serviceName": "s", "desiredCount": 1000000, "taskDefinition": "small"}',
            ECS,
        ),
        ("RegisterTaskDefinition", deep, ECS),
        ("DescribeClusters", b'{"clusters": [1e400]}', ECS),
    ]


def bad_requester(port: int, setup: Setup, ledger: Ledger, stop: threading.Event) -> None:
    """One bad request every ~20 ms, each on a fresh connection; every answer must be a 4xx."""
    bodies = bad_bodies(setup)
    rng = random.Random(7)
    while not stop.is_set():
        action, body, service = rng.choice(bodies)
        try:
            api = Wire(port, timeout=30)
            try:
                status, _ = api.raw(action, body, service)
            finally:
                api.close()
        except OSError:
            continue
        ledger.count(f"bad request {status // 100}xx")
        if status >= 500:
            ledger.count(f"5xx {action}")
        stop.wait(0.02)


def sampler(pid: int, ledger: Ledger, stop: threading.Event, interval: float, t0: float) -> None:
    while True:
        try:
            value = rss_mb(pid)
        except OSError:
            return
        with ledger.lock:
            ledger.rss.append((round(time.perf_counter() - t0, 1), round(value, 1)))
        if stop.wait(interval):
            return


def run_traffic(args: argparse.Namespace, server: Server, setup: Setup, ledger: Ledger) -> float:
    """The mixed traffic for ``args.duration`` s, ended by a SIGKILL of the server; its CPU s."""
    stop = threading.Event()
    t0 = time.perf_counter()
    cap = args.backlog * args.workers
    threads = [
        threading.Thread(target=starter, args=(server.port, setup, ledger, stop, cap))
        for _ in range(args.starters)
    ]
    threads += [
        threading.Thread(target=worker, args=(server.port, setup, ledger, stop, i))
        for i in range(args.workers)
    ]
    threads.append(threading.Thread(target=bad_requester, args=(server.port, setup, ledger, stop)))
    rss = threading.Thread(
        target=sampler, args=(server.pid, ledger, stop, args.sample_interval, t0)
    )
    for thread in [*threads, rss]:
        thread.daemon = True
        thread.start()
    deadline = t0 + args.duration
    while time.perf_counter() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.perf_counter())))
        if args.progress:
            with ledger.lock:
                done = ledger.counts["result acknowledged"]
            print(f"  t={time.perf_counter() - t0:6.0f}s acknowledged={done}", file=sys.stderr)
    stop.set()
    rss.join()
    cpu = cpu_seconds(server.pid)
    server.kill()  # in the middle of the traffic: the threads are still sending
    for thread in threads:
        thread.join(timeout=30)
    with ledger.lock:
        ledger.counts["acknowledged before the kill"] = len(ledger.acked)
    return cpu


def drain(port: int, setup: Setup, ledger: Ledger, args: argparse.Namespace) -> int:
    """Workers again after the restart, until no execution runs; how many still run."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=worker, args=(port, setup, ledger, stop, 1000 + i), daemon=True)
        for i in range(args.workers)
    ]
    for thread in threads:
        thread.start()
    api = Wire(port)
    deadline = time.perf_counter() + HEARTBEAT_SECONDS + args.drain_timeout
    running = -1
    while time.perf_counter() < deadline:
        running = 0
        for arn in setup.machines.values():
            page = api.call(
                "ListExecutions",
                {"stateMachineArn": arn, "statusFilter": "RUNNING", "maxResults": 1000},
            )
            running += len(page["executions"])
        if running == 0:
            break
        time.sleep(0.5)
    stop.set()
    api.close()
    # idle workers sit in a long poll: they end with the server
    return running


def check_history(port: int, arn: str) -> list[str]:
    api = Wire(port)
    try:
        outputs: list[str] = []
        params: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = api.call("GetExecutionHistory", params)
            for event in page["events"]:
                if event["type"] == "ActivitySucceeded":
                    outputs.append(event["activitySucceededEventDetails"]["output"])
            if not page.get("nextToken"):
                return outputs
            params["nextToken"] = page["nextToken"]
    finally:
        api.close()


def verify(port: int, ledger: Ledger) -> dict[str, int]:
    """Lost and duplicated results, from every activity execution's history."""
    names = [n for n, kind in ledger.started.items() if kind == "activity"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda n: check_history(port, ledger.arns[n]), names)
        histories = dict(zip(names, found, strict=True))
    lost = duplicated = 0
    for name, outputs in histories.items():
        if len(outputs) > 1:
            duplicated += 1
        sent = ledger.acked.get(name)
        if sent is not None and json.loads(sent) not in [json.loads(o) for o in outputs]:
            lost += 1
    return {
        "lost": lost,
        "duplicated": duplicated + len(set(ledger.handed_after_ack)),
        "histories_checked": len(histories),
    }


def report(result: dict[str, Any]) -> str:
    rows = [(key, value) for key, value in result.items() if not isinstance(value, list | dict)]
    lines = ["| figure | value |", "| --- | ---: |", *(f"| {k} | {v} |" for k, v in rows)]
    lines += ["", "| t (s) | server RSS (MB) |", "| ---: | ---: |"]
    samples = result["rss_samples"]
    step = max(1, len(samples) // 12)
    lines += [f"| {t} | {mb} |" for t, mb in samples[::step]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--workers", type=int, default=8, help="activity worker threads")
    parser.add_argument("--starters", type=int, default=2, help="StartExecution threads")
    parser.add_argument("--backlog", type=int, default=4, help="activity tasks waiting per worker")
    parser.add_argument("--sample-interval", type=float, default=5.0, help="RSS sampling, s")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--progress", action="store_true", help="a line per second on stderr")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="montemap-soak-")
    server = Server(os.path.join(workdir, "data"))
    ledger = Ledger()
    try:
        server.start()
        setup = create_resources(server.port)
        cpu = run_traffic(args, server, setup, ledger)
        restart_s = server.start()
        still_running = drain(server.port, setup, ledger, args)
        checked = verify(server.port, ledger)
        rss = [mb for _, mb in ledger.rss]
        counts = ledger.counts
        result: dict[str, Any] = {
            "duration_s": args.duration,
            "workers": args.workers,
            "executions_started": sum(v for k, v in counts.items() if k.startswith("start ")),
            "executions_per_s": round(
                sum(v for k, v in counts.items() if k.startswith("start ")) / args.duration, 1
            ),
            "results_acknowledged": counts["acknowledged before the kill"],
            "results_acknowledged_after_restart": len(ledger.acked)
            - counts["acknowledged before the kill"],
            "heartbeats": counts["heartbeat"],
            "bad_requests": sum(v for k, v in counts.items() if k.startswith("bad request")),
            "bad_requests_5xx": counts["bad request 5xx"],
            "server_cpu_s": round(cpu, 1),
            "restart_after_sigkill_s": round(restart_s, 2),
            "still_running_after_drain": still_running,
            **checked,
            "server_errors_logged": server.errors_logged(),
            "rss_mb_start": rss[0] if rss else None,
            "rss_mb_median": statistics.median(rss) if rss else None,
            "rss_mb_max": max(rss) if rss else None,
            "rss_mb_end": rss[-1] if rss else None,
            "counts": dict(counts),
            "rss_samples": ledger.rss,
        }
    finally:
        server.stop()
    print(report(result))
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    shutil.rmtree(workdir, ignore_errors=True)
    if result["lost"] or result["duplicated"] or result["bad_requests_5xx"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
