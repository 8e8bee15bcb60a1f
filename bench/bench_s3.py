"""S3 GetObject+PutObject rate from boto3 worker processes, beside the activity round-trip rate.

The original worker does, per loan, one GetObject of a small object and one
PutObject of a small result. This benchmark starts a real ``montemap server``
on loopback and, in one run:

1. measures activity round trips (GetActivityTask + SendTaskSuccess) with
   ``bench/bench_activity.py``'s minimal unsigned client, and again from
   boto3 ``stepfunctions`` clients in worker processes (``--sfn-seconds``);
2. measures S3 requests per second from ``--clients`` boto3 ``s3`` client
   processes, each looping GetObject(loan) + PutObject(result) for
   ``--seconds``; and the same from a minimal unsigned HTTP client
   (``--raw-seconds``) to show the server's own ceiling.

For each phase it reports the rate, the server's CPU time per request
(user + system, from /proc; less noisy than the rate on a shared machine),
the clients' CPU time per request (their measured loops) and the load
average. ``--clients 8 1`` runs the S3 phases once per client count;
``--baseline-src DIR`` (a copy of ``src/`` taken before a change) runs every
phase against that montemap too, alternating with the current one
``--rounds`` times, so before and after share the machine's conditions.
``--profile FILE`` runs the server under cProfile (pstats file at exit, wall
time); ``--py-spy FILE`` samples the server's CPU during the boto3 S3 phase
with py-spy (collapsed stacks; py-spy must be on PATH).

    .venv/bin/python bench/bench_s3.py
    .venv/bin/python bench/bench_s3.py --clients 8 1 --sfn-seconds 0 --tasks 0 \
        --baseline-src /tmp/s3-baseline-src --rounds 2
    .venv/bin/python bench/bench_s3.py --clients 8 --seconds 10 --profile /tmp/s3.prof
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

try:
    from bench.bench_activity import Client, cpu_seconds, free_port, run_once, wait_healthy
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench.bench_activity import Client, cpu_seconds, free_port, run_once, wait_healthy

BUCKET = "bench-loans"
LOANS = 2000
LOAN = json.dumps({"loan_id": 1, "balance": 250000.0, "rate": 0.0425, "term": 360}).encode()
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret-key"}


def start_server(
    port: int, data_dir: str, profile: str | None, src: str | None = None
) -> subprocess.Popen[bytes]:
    """A server on ``port``; ``src``: run the montemap under that src dir (a baseline)."""
    runner = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [
            *runner,
            *("-m", "montemap.api.cli", "--port", str(port), "--data-dir", data_dir),
            *("--log-level", "warning"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
    )


def s3_client(port: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=2),
        **CREDENTIALS,
    )


def boto3_s3_worker(port: int, index: int, start: Any, seconds: float, out: Any) -> None:
    client = s3_client(port)
    client.get_object(Bucket=BUCKET, Key="loans/0.json")["Body"].read()  # connect, warm up
    start.wait()
    cpu = time.process_time()
    count, i = 0, index
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        key = f"loans/{i % LOANS}.json"
        client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        client.put_object(Bucket=BUCKET, Key=f"results/{index}/{i}.json", Body=b'{"pd":0.01}')
        count += 2
        i += 8
    out.put((count, time.process_time() - cpu))


class RawClient:
    """A keep-alive, unsigned HTTP/1.1 client: the server's cost without SDK overhead."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
        self.sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self.sock.recv(65536)
        if not header.startswith(b"HTTP/1.1 2"):
            raise RuntimeError(f"{method} {path}: {header[:200]!r}")
        self.buffer = rest[length:]
        return rest[:length]


def raw_s3_worker(port: int, index: int, start: Any, seconds: float, out: Any) -> None:
    client = RawClient(port)
    start.wait()
    cpu = time.process_time()
    count, i = 0, index
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.request("GET", f"/{BUCKET}/loans/{i % LOANS}.json")
        client.request("PUT", f"/{BUCKET}/results/raw-{index}/{i}.json", b'{"pd":0.01}')
        count += 2
        i += 8
    out.put((count, time.process_time() - cpu))


def boto3_sfn_worker(port: int, index: int, start: Any, seconds: float, out: Any) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "stepfunctions",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=70),
        **CREDENTIALS,
    )
    activity = client.create_activity(name="bench-boto3")["activityArn"]
    start.wait()
    cpu = time.process_time()
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task = client.get_activity_task(activityArn=activity, workerName=f"w{index}")
        if task.get("taskToken"):
            client.send_task_success(taskToken=task["taskToken"], output="{}")
            count += 1
    out.put((count, time.process_time() - cpu))


def run_processes(
    target: Any,
    port: int,
    server_pid: int,
    clients: int,
    seconds: float,
    py_spy: str | None = None,
) -> dict[str, Any]:
    """Start ``clients`` processes running ``target``; rate and server CPU per request.

    With ``py_spy`` (an output file), py-spy samples the server's CPU (not idle
    waits) during the phase and writes collapsed stacks there.
    """
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(port, i, start, seconds, out)) for i in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every client import boto3 and connect before the clock starts
    sampler = None
    if py_spy:
        command = [shutil.which("py-spy") or "py-spy", "record", "--pid", str(server_pid)]
        command += ["--format", "raw", "--output", py_spy, "--duration", str(int(seconds))]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = cpu_seconds(server_pid)
    began = time.perf_counter()
    start.set()
    reports = [out.get(timeout=seconds + 120) for _ in procs]
    total = sum(count for count, _ in reports)
    client_cpu = sum(spent for _, spent in reports)
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds(server_pid) - cpu
    for p in procs:
        p.join()
    if sampler is not None:
        sampler.wait(60)
    return {
        "clients": clients,
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(total / elapsed, 1),
        "server_cpu_us_per_request": round(cpu / max(total, 1) * 1e6),
        "client_cpu_us_per_request": round(client_cpu / max(total, 1) * 1e6),
    }


def boto3_sfn_phase(port: int, server_pid: int, clients: int, seconds: float) -> dict[str, Any]:
    """Activity round trips from boto3 processes, fed by an execution of many tasks."""
    api = Client(port)
    activity = api.call("CreateActivity", {"name": "bench-boto3"})["activityArn"]
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "MaxConcurrency": 1000,
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
    machine = api.call(
        "CreateStateMachine",
        {
            "name": "bench-boto3",
            "definition": json.dumps(definition),
            "roleArn": "arn:aws:iam::123456789012:role/bench",
        },
    )["stateMachineArn"]
    for _ in range(8):  # 32,000 tasks; each inline Map stays under the 25,000-event history
        api.call(
            "StartExecution", {"stateMachineArn": machine, "input": json.dumps(list(range(4000)))}
        )
    api.close()
    result = run_processes(boto3_sfn_worker, port, server_pid, clients, seconds)
    result["server_cpu_us_per_round_trip"] = result.pop("server_cpu_us_per_request")
    result["round_trips_per_second"] = result.pop("requests_per_second")
    result["round_trips"] = result.pop("requests")
    result["client_cpu_us_per_round_trip"] = result.pop("client_cpu_us_per_request")
    return result


def seed(port: int) -> None:
    client = s3_client(port)
    client.create_bucket(Bucket=BUCKET)
    for i in range(LOANS):
        client.put_object(Bucket=BUCKET, Key=f"loans/{i}.json", Body=LOAN)
    client.close()


def bench(args: argparse.Namespace, src: str | None) -> dict[str, Any]:
    """Every phase against one fresh server running the montemap under ``src``."""
    data_dir = tempfile.mkdtemp(prefix="montemap-bench-s3-")
    port = free_port()
    server = start_server(port, data_dir, args.profile, src)
    results: dict[str, Any] = {}

    def record(name: str, result: dict[str, Any]) -> None:
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        results[name] = result
        print(json.dumps({"server": src or "current", name: result}), flush=True)

    try:
        wait_healthy(port, server)
        if args.tasks > 0:
            record("activity_raw", run_once(port, server.pid, args.tasks, max(args.clients), 1000))
        if args.sfn_seconds > 0:
            record(
                "activity_boto3",
                boto3_sfn_phase(port, server.pid, max(args.clients), args.sfn_seconds),
            )
        seed(port)
        for clients in args.clients:
            record(
                f"s3_boto3_{clients}",
                run_processes(
                    boto3_s3_worker, port, server.pid, clients, args.seconds, args.py_spy
                ),
            )
            if args.raw_seconds > 0:
                record(
                    f"s3_raw_{clients}",
                    run_processes(raw_s3_worker, port, server.pid, clients, args.raw_seconds),
                )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[8], help="client processes (one phase each)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the S3 phase")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="0: skip the raw phase")
    parser.add_argument("--sfn-seconds", type=float, default=5.0, help="0: skip boto3 activities")
    parser.add_argument(  # an inline Map of 5,000 would pass the 25,000-event history quota
        "--tasks", type=int, default=3000, help="activity round trips (raw); 0: skip"
    )
    parser.add_argument("--baseline-src", help="also benchmark the montemap under this src dir")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each server, alternated")
    parser.add_argument("--profile", help="run the server under cProfile, writing this file")
    parser.add_argument("--py-spy", help="sample the server during the boto3 S3 phase into FILE")
    args = parser.parse_args()

    variants: list[tuple[str, str | None]] = [("current", None)]
    if args.baseline_src:
        variants.insert(0, ("baseline", os.path.abspath(args.baseline_src)))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, src in variants:
            runs[name].append(bench(args, src))
    print(json.dumps({"summary": runs, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
