"""Activity round trips per second with no-op workers, state kept durably.

Starts a real ``montemap server`` on loopback, creates an activity and a state
machine whose inline Map runs one activity Task per item, starts executions
with N items in all (at most ``ITEMS_PER_EXECUTION`` each: an execution's
history holds at most 25,000 events), and lets W worker threads poll (GetActivityTask) and answer
(SendTaskSuccess) over keep-alive HTTP connections that speak the JSON 1.0
protocol directly (a few lines of socket code, not ``http.client``), so the
figure is the server's, not the client library's.

It also reports the CPU time the server process and the benchmark process
(the workers) spent per round trip, which is less noisy than the rate on a
shared machine. ``--baseline-src DIR`` runs the same benchmark against a
second source tree (e.g. ``git archive`` of an older commit) in alternation,
``--rounds`` times each, so before/after figures come from one run:

    .venv/bin/python bench/bench_activity.py --tasks 5000 --workers 8
    .venv/bin/python bench/bench_activity.py --baseline-src /tmp/base/src --rounds 3

``--instructions`` counts instead the instructions the server process executes per
round trip, which a loaded machine does not disturb: each server runs under
``valgrind --tool=callgrind`` twice, with ``INSTRUCTION_BASE`` tasks and with that
many more than ``--tasks``, and the difference is divided by ``--tasks`` (start-up
and set-up cancel out). Slow (a few minutes per server); needs valgrind:

    .venv/bin/python bench/bench_activity.py --instructions --tasks 500 --baseline-src /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

try:
    from bench._server import cpu_seconds, running_server, wait_healthy
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._server import cpu_seconds, running_server, wait_healthy


class Client:
    """A minimal keep-alive JSON 1.0 client (unsigned: the server is on loopback)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=90)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body).encode()
        head = (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Amz-Target: AWSStepFunctions.{action}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + payload)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.buffer = rest
        while len(self.buffer) < length:
            self._fill()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        if status != 200:
            raise RuntimeError(f"{action}: {status} {data[:300]!r}")
        return json.loads(data) if data else {}

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk


#: Tasks of the shorter run of ``--instructions`` (its count is subtracted).
INSTRUCTION_BASE = 50


#: Items per execution (each inline Map item adds about 7 history events).
ITEMS_PER_EXECUTION = 2000


def run_once(
    port: int, server_pid: int | None, tasks: int, workers: int, concurrency: int
) -> dict[str, Any]:
    """One benchmark against a running server; its figures."""
    api = Client(port)
    activity = api.call("CreateActivity", {"name": "bench"})["activityArn"]
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "MaxConcurrency": concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }
    sm = api.call(
        "CreateStateMachine",
        {
            "name": f"bench-{time.monotonic_ns()}",
            "definition": json.dumps(definition),
            "roleArn": "arn:aws:iam::123456789012:role/bench",
        },
    )["stateMachineArn"]
    done = threading.Event()
    counts = [0] * workers

    def worker(i: int) -> None:
        client = Client(port)
        try:
            while not done.is_set():
                task = client.call(
                    "GetActivityTask", {"activityArn": activity, "workerName": f"w{i}"}
                )
                token = task.get("taskToken")
                if not token:
                    continue
                client.call("SendTaskSuccess", {"taskToken": token, "output": "{}"})
                counts[i] += 1
        except (OSError, RuntimeError):
            return  # the server is going away at the end of the run
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
    client_cpu = time.process_time()
    started = time.perf_counter()
    # An execution's history holds at most 25,000 events (AWS's quota), about 7 per
    # inline Map item here: the tasks are spread over executions of ITEMS_PER_EXECUTION.
    executions = [
        api.call(
            "StartExecution",
            {
                "stateMachineArn": sm,
                "input": json.dumps(list(range(first, min(tasks, first + ITEMS_PER_EXECUTION)))),
            },
        )["executionArn"]
        for first in range(0, tasks, ITEMS_PER_EXECUTION)
    ]
    statuses: list[str] = []
    for execution in executions:
        while True:
            status = api.call("DescribeExecution", {"executionArn": execution})["status"]
            if status != "RUNNING":
                statuses.append(status)
                break
            time.sleep(0.05)
    status = "SUCCEEDED" if set(statuses) == {"SUCCEEDED"} else ",".join(sorted(set(statuses)))
    elapsed = time.perf_counter() - started
    server_cpu = (cpu_seconds(server_pid) if server_pid else 0.0) - server_cpu
    client_cpu = time.process_time() - client_cpu
    done.set()
    api.close()
    return {
        "status": status,
        "tasks": tasks,
        "completed_by_workers": sum(counts),
        "workers": workers,
        "seconds": round(elapsed, 2),
        "round_trips_per_second": round(tasks / elapsed, 1),
        "server_cpu_us_per_round_trip": round(server_cpu / tasks * 1e6) if server_pid else None,
        "client_cpu_us_per_round_trip": round(client_cpu / tasks * 1e6),
    }


def bench(
    args: argparse.Namespace, src: str | None, *, tasks: int = 0, count_to: str = ""
) -> dict[str, Any]:
    """Start a server (from ``src`` when given), benchmark it once, stop it.

    With ``count_to`` (a file name) the server runs under callgrind, which writes
    its instruction count there when it exits.
    """
    prefix = (
        ("valgrind", "--tool=callgrind", f"--callgrind-out-file={count_to}") if count_to else ()
    )
    with running_server(
        src,
        prefix,
        grace=600 if count_to else 20,
        health_timeout=900 if count_to else 30,  # valgrind starts slowly
    ) as (port, server):
        return run_once(port, server.pid, tasks or args.tasks, args.workers, args.concurrency)


def instructions(args: argparse.Namespace, src: str | None) -> dict[str, Any]:
    """Instructions the server executes per round trip (see the module's docstring)."""
    totals = []
    with tempfile.TemporaryDirectory(prefix="montemap-callgrind-") as folder:
        for tasks in (INSTRUCTION_BASE, INSTRUCTION_BASE + args.tasks):
            out = os.path.join(folder, f"callgrind.{tasks}")
            result = bench(args, src, tasks=tasks, count_to=out)
            if result["status"] != "SUCCEEDED":
                raise RuntimeError(f"the benchmark's executions ended {result['status']}")
            with open(out) as f:
                totals.append(
                    next(int(line.split()[1]) for line in f if line.startswith("totals:"))
                )
    return {
        "tasks": args.tasks,
        "workers": args.workers,
        "server_instructions_per_round_trip": round((totals[1] - totals[0]) / args.tasks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=1000, help="Map MaxConcurrency")
    parser.add_argument("--port", type=int, default=0, help="use a server already running here")
    parser.add_argument("--baseline-src", help="also benchmark the montemap under this src dir")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each server, alternated")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the server's instructions per round trip under valgrind (slow)",
    )
    args = parser.parse_args()

    if args.port:
        wait_healthy(args.port, None)
        print(json.dumps(run_once(args.port, None, args.tasks, args.workers, args.concurrency)))
        return
    variants: list[tuple[str, str | None]] = [("current", None)]
    if args.baseline_src:
        variants.insert(0, ("baseline", os.path.abspath(args.baseline_src)))
    if args.instructions:
        for name, src in variants:
            print(json.dumps({"server": name, **instructions(args, src)}), flush=True)
        return
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, src in variants:
            result = bench(args, src)
            results[name].append(result)
            print(json.dumps({"server": name, **result}), flush=True)
    if args.rounds > 1 or len(variants) > 1:
        summary = {
            name: {
                "median_round_trips_per_second": statistics.median(
                    r["round_trips_per_second"] for r in runs
                ),
                "median_server_cpu_us_per_round_trip": statistics.median(
                    r["server_cpu_us_per_round_trip"] for r in runs
                ),
            }
            for name, runs in results.items()
        }
        print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
