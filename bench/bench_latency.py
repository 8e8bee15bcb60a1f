"""Wake-up latency of a GetActivityTask long poll, on a real ``montemap server``.

A poller waits on an empty activity; the benchmark then starts an execution
whose only state is a Task on that activity and notes when the poller's
answer arrives. Latency = arrival time - the ActivityScheduled event's
timestamp (both this machine's clock): how long a scheduled task waits for a
poller that is already waiting. Also reported: StartExecution sent -> task
received (the whole path, including starting the execution).

    .venv/bin/python bench/bench_latency.py --rounds 200
    .venv/bin/python bench/bench_latency.py --baseline-src /tmp/base/src  # before/after
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from typing import Any

try:
    from bench._server import free_port, start_server, wait_healthy
    from bench.bench_activity import Client
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._server import free_port, start_server, wait_healthy
    from bench.bench_activity import Client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values_ms), 3),
        "p90_ms": round(percentile(values_ms, 0.9), 3),
        "max_ms": round(max(values_ms), 3),
    }


def scheduled_at(api: Client, execution: str) -> float:
    """The ActivityScheduled event's timestamp (epoch seconds)."""
    events = api.call("GetExecutionHistory", {"executionArn": execution, "maxResults": 100})
    for event in events["events"]:
        if event["type"] == "ActivityScheduled":
            stamp = event["timestamp"]
            if isinstance(stamp, str):
                return datetime.fromisoformat(stamp).timestamp()
            return float(stamp)
    raise RuntimeError(f"no ActivityScheduled event in {execution}")


def poll(poller: Client, activity: str, got: dict[str, Any]) -> None:
    """One long poll; its answer and when it arrived go into ``got``."""
    got["task"] = poller.call("GetActivityTask", {"activityArn": activity})
    got["at"] = time.time()


def run(port: int, rounds: int, settle: float) -> dict[str, Any]:
    api = Client(port)
    activity = api.call("CreateActivity", {"name": "latency"})["activityArn"]
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
    }
    sm = api.call(
        "CreateStateMachine",
        {
            "name": "latency",
            "definition": json.dumps(definition),
            "roleArn": "arn:aws:iam::123456789012:role/bench",
        },
    )["stateMachineArn"]
    poller = Client(port)
    wake: list[float] = []
    whole: list[float] = []
    for i in range(rounds):
        got: dict[str, Any] = {}

        thread = threading.Thread(target=poll, args=(poller, activity, got))
        thread.start()
        time.sleep(settle)  # let the poll reach the server and start waiting
        sent = time.time()
        execution = api.call(
            "StartExecution", {"stateMachineArn": sm, "name": f"r{i}", "input": "{}"}
        )["executionArn"]
        thread.join(90)
        token = got["task"]["taskToken"]
        api.call("SendTaskSuccess", {"taskToken": token, "output": "{}"})
        wake.append((got["at"] - scheduled_at(api, execution)) * 1000)
        whole.append((got["at"] - sent) * 1000)
    poller.close()
    api.close()
    return {
        "rounds": rounds,
        "scheduled_to_received": summary(wake),
        "start_execution_to_received": summary(whole),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--settle", type=float, default=0.02, help="seconds a poll waits first")
    parser.add_argument("--port", type=int, default=0, help="use a server already running here")
    parser.add_argument("--baseline-src", help="first measure the montemap under this src dir")
    args = parser.parse_args()
    if args.port:
        wait_healthy(args.port, None)
        print(json.dumps(run(args.port, args.rounds, args.settle)))
        return
    if args.baseline_src:
        measure(args, "baseline", os.path.abspath(args.baseline_src))
    measure(args, "current", None)


def measure(args: argparse.Namespace, name: str, src: str | None) -> None:
    """Start a server (from ``src`` when given), measure, stop it."""
    data_dir = tempfile.mkdtemp(prefix="montemap-latency-")
    port = free_port()
    server = start_server(port, data_dir, src)
    try:
        wait_healthy(port, server)
        print(json.dumps({"server": name, **run(port, args.rounds, args.settle)}), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
