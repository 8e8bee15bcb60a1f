"""Activity round trips per second with no-op workers, state kept durably.

Starts a real ``montemap server`` on loopback, creates an activity and a state
machine whose inline Map runs one activity Task per item, starts one execution
with N items, and lets W worker threads poll (GetActivityTask) and answer
(SendTaskSuccess) with keep-alive HTTP connections that speak the JSON 1.0
protocol directly, so the figure is the server's, not boto3's client overhead.

    .venv/bin/python bench/bench_activity.py --tasks 5000 --workers 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """A minimal keep-alive JSON 1.0 client (unsigned: the server is on loopback)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)

    def call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        self.conn.request(
            "POST",
            "/",
            body=json.dumps(body),
            headers={
                "X-Amz-Target": f"AWSStepFunctions.{action}",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{action}: {resp.status} {data[:300]!r}")
        return json.loads(data) if data else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=1000, help="Map MaxConcurrency")
    parser.add_argument("--port", type=int, default=0, help="use a server already running here")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="montemap-bench-")
    port = args.port or free_port()
    server = (
        None
        if args.port
        else subprocess.Popen(
            [
                sys.executable,
                "-m",
                "montemap.cli",
                "server",
                "--port",
                str(port),
                "--data-dir",
                data_dir,
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        api = Client(port)
        activity = api.call("CreateActivity", {"name": "bench"})["activityArn"]
        definition = {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Map",
                    "MaxConcurrency": args.concurrency,
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
                "name": "bench",
                "definition": json.dumps(definition),
                "roleArn": "arn:aws:iam::123456789012:role/bench",
            },
        )["stateMachineArn"]
        done = threading.Event()
        counts = [0] * args.workers

        def worker(i: int) -> None:
            client = Client(port)
            while not done.is_set():
                try:
                    task = client.call(
                        "GetActivityTask", {"activityArn": activity, "workerName": f"w{i}"}
                    )
                except (OSError, RuntimeError, http.client.HTTPException):
                    return  # the server is going away at the end of the run
                token = task.get("taskToken")
                if not token:
                    continue
                client.call("SendTaskSuccess", {"taskToken": token, "output": "{}"})
                counts[i] += 1

        threads = [
            threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.workers)
        ]
        for t in threads:
            t.start()
        started = time.perf_counter()
        execution = api.call(
            "StartExecution", {"stateMachineArn": sm, "input": json.dumps(list(range(args.tasks)))}
        )["executionArn"]
        while True:
            status = api.call("DescribeExecution", {"executionArn": execution})["status"]
            if status != "RUNNING":
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        done.set()
        print(
            json.dumps(
                {
                    "status": status,
                    "tasks": args.tasks,
                    "completed_by_workers": sum(counts),
                    "workers": args.workers,
                    "seconds": round(elapsed, 2),
                    "round_trips_per_second": round(args.tasks / elapsed, 1),
                }
            )
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
