"""S3 GetObject+PutObject rate from boto3 worker processes, beside the activity round-trip rate.

The original worker does, per loan, one GetObject of a small object and one
PutObject of a small result. This benchmark starts a real ``montemap server``
on loopback (``bench/_server.py``) and, in one run:

1. measures activity round trips (GetActivityTask + SendTaskSuccess) with
   ``bench/bench_activity.py``'s minimal unsigned client, and again from
   boto3 ``stepfunctions`` clients in worker processes (``--sfn-seconds``);
2. measures S3 requests per second from ``--clients`` boto3 ``s3`` client
   processes, each looping GetObject(loan) + PutObject(result) for
   ``--seconds``; the same from a minimal HTTP client (``--raw-seconds``),
   and from a minimal client sending boto3's headers, checksum and
   ``Expect: 100-continue`` (``--shaped-seconds``): the server's work for
   boto3 traffic at a client cost near zero.

For each phase it reports the rate, the server's CPU time per request
(user + system, from /proc, and each alone; less noisy than the rate on a
shared machine), the clients' CPU time per request (their measured loops)
and the load average. ``--clients 8 1`` runs the S3 phases once per client
count; ``--baseline-src DIR`` (a copy of ``src/`` taken before a change) runs
every phase against that montemap too, alternating with the current one
``--rounds`` times, so before and after share the machine's conditions.
``--server-cpus 0 --client-cpus 1`` pins the server to one CPU and the
clients to the other (what one core of server sustains when its clients run
elsewhere). ``--profile FILE`` runs the server under cProfile (pstats file at
exit, wall time); ``--py-spy FILE`` samples the server during the boto3 S3
phase with py-spy (collapsed stacks; py-spy must be on PATH).

    .venv/bin/python bench/bench_s3.py
    .venv/bin/python bench/bench_s3.py --clients 8 1 --sfn-seconds 0 --tasks 0 \
        --baseline-src /tmp/base-src --rounds 2
    .venv/bin/python bench/bench_s3.py --clients 8 --seconds 0 --raw-seconds 0 --tasks 0 \
        --sfn-seconds 0 --shaped-seconds 10 --server-cpus 0 --client-cpus 1
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import zlib
from typing import Any, TypedDict

try:
    from bench._server import cpu_times, running_server
    from bench.bench_activity import Client, run_once
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._server import cpu_times, running_server
    from bench.bench_activity import Client, run_once

BUCKET = "bench-loans"
LOANS = 2000
LOAN = json.dumps({"loan_id": 1, "balance": 250000.0, "rate": 0.0425, "term": 360}).encode()


class Credentials(TypedDict):
    aws_access_key_id: str
    aws_secret_access_key: str


CREDENTIALS: Credentials = {
    "aws_access_key_id": "bench",
    "aws_secret_access_key": "bench-secret-key",
}
#: The User-Agent of boto3 1.44 on Linux (the shaped client sends one of this length).
SHAPED_AGENT = (
    "Boto3/1.44.18 md/Botocore#1.44.18 ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 "
    "md/pyimpl#CPython m/e,E,b,Z,U,N cfg/retry-mode#standard Botocore/1.44.18"
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
    """A keep-alive HTTP/1.1 client: the server's cost without SDK overhead.

    ``shaped``: each request carries the headers boto3 sends (user agent,
    date, payload hash, an ``Authorization`` naming service ``s3``, invocation
    id; on a PUT the CRC32 checksum and ``Expect: 100-continue``, waiting for
    the interim response before the body), so the server does what it does for
    boto3 while the client stays cheap. The signature is not valid: the
    benchmark's server has no keys and checks none, as for the boto3 clients.
    """

    def __init__(self, port: int, *, shaped: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.host = f"127.0.0.1:{port}"
        self.shaped = shaped

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        if not self.shaped:
            head = f"Host: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            self.sock.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
        else:
            head = self._head(method, path, body)
            self.sock.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode())
            if method == "PUT":  # boto3 waits for "100 Continue" before the body
                interim = self._response()[0]
                if not interim.startswith(b"HTTP/1.1 100"):
                    raise RuntimeError(f"{method} {path}: {interim[:200]!r}")
                self.sock.sendall(body)
        header, data = self._response()
        if not header.startswith(b"HTTP/1.1 2"):
            raise RuntimeError(f"{method} {path}: {header[:200]!r}")
        return data

    def _head(self, method: str, path: str, body: bytes) -> str:
        now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signed = "host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date"
        extra = "x-amz-checksum-mode: ENABLED\r\n"
        if method == "PUT":
            crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
            signed = "host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;"
            signed += "x-amz-sdk-checksum-algorithm"
            extra = f"Expect: 100-continue\r\nx-amz-checksum-crc32: {crc}\r\n"
            extra += "x-amz-sdk-checksum-algorithm: CRC32\r\n"
        return (
            f"Host: {self.host}\r\nAccept-Encoding: identity\r\n{extra}"
            f"User-Agent: {SHAPED_AGENT}\r\nX-Amz-Date: {now}\r\n"
            f"X-Amz-Content-SHA256: {hashlib.sha256(body).hexdigest()}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential=bench/{now[:8]}/us-east-1/s3/"
            f"aws4_request, SignedHeaders={signed}, Signature={'0' * 64}\r\n"
            f"amz-sdk-invocation-id: {uuid.uuid4()}\r\namz-sdk-request: attempt=1; max=1\r\n"
            + (f"Content-Length: {len(body)}\r\n" if method == "PUT" else "")
        )

    def _response(self) -> tuple[bytes, bytes]:
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
        self.buffer = rest[length:]
        return header, rest[:length]


def raw_s3_worker(
    port: int, index: int, start: Any, seconds: float, out: Any, shaped: bool = False
) -> None:
    client = RawClient(port, shaped=shaped)
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


def shaped_s3_worker(port: int, index: int, start: Any, seconds: float, out: Any) -> None:
    raw_s3_worker(port, index, start, seconds, out, shaped=True)


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


def _pinned(target: Any, cpus: set[int] | None, *args: Any) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    target(*args)


def run_processes(
    target: Any,
    port: int,
    server_pid: int,
    clients: int,
    seconds: float,
    py_spy: str | None = None,
    cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Start ``clients`` processes running ``target``; rate and server CPU per request.

    With ``py_spy`` (an output file), py-spy samples the server's CPU (not idle
    waits) during the phase and writes collapsed stacks there. ``cpus``: the
    CPUs the client processes may run on (``--client-cpus``).
    """
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_pinned, args=(target, cpus, port, i, start, seconds, out))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every client import boto3 and connect before the clock starts
    sampler = None
    if py_spy:
        command = [shutil.which("py-spy") or "py-spy", "record", "--pid", str(server_pid)]
        command += ["--format", "raw", "--output", py_spy, "--duration", str(int(seconds))]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    user, system = cpu_times(server_pid)
    began = time.perf_counter()
    start.set()
    reports = [out.get(timeout=seconds + 120) for _ in procs]
    total = sum(count for count, _ in reports)
    client_cpu = sum(spent for _, spent in reports)
    elapsed = time.perf_counter() - began
    user_after, system_after = cpu_times(server_pid)
    user, system = user_after - user, system_after - system
    for p in procs:
        p.join()
    if sampler is not None:
        sampler.wait(60)
    per = 1e6 / max(total, 1)
    return {
        "clients": clients,
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(total / elapsed, 1),
        "server_cpu_us_per_request": round((user + system) * per),
        "server_user_us_per_request": round(user * per),
        "server_system_us_per_request": round(system * per),
        "client_cpu_us_per_request": round(client_cpu * per),
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
    for part in ("cpu", "user", "system"):
        result[f"server_{part}_us_per_round_trip"] = result.pop(f"server_{part}_us_per_request")
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


#: The S3 phases: result name -> client worker and the option giving its length.
S3_PHASES = (
    ("s3_boto3", boto3_s3_worker, "seconds"),
    ("s3_raw", raw_s3_worker, "raw_seconds"),
    ("s3_shaped", shaped_s3_worker, "shaped_seconds"),
)


def bench(args: argparse.Namespace, src: str | None) -> dict[str, Any]:
    """Every phase against one fresh server running the montemap under ``src``."""
    results: dict[str, Any] = {}

    def record(name: str, result: dict[str, Any]) -> None:
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        results[name] = result
        print(json.dumps({"server": src or "current", name: result}), flush=True)

    with running_server(src, profile=args.profile, data_prefix="montemap-bench-s3-") as (
        port,
        server,
    ):
        if args.server_cpus:
            subprocess.run(
                ["taskset", "-a", "-p", "-c", args.server_cpus, str(server.pid)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        clients_on = _cpus(args.client_cpus)
        if args.tasks > 0:
            record("activity_raw", run_once(port, server.pid, args.tasks, max(args.clients), 1000))
        if args.sfn_seconds > 0:
            record(
                "activity_boto3",
                boto3_sfn_phase(port, server.pid, max(args.clients), args.sfn_seconds),
            )
        seed(port)
        for clients in args.clients:
            for name, worker, option in S3_PHASES:
                seconds = getattr(args, option)
                if seconds > 0:
                    spy = args.py_spy if name == "s3_boto3" else None
                    phase = run_processes(
                        worker, port, server.pid, clients, seconds, spy, clients_on
                    )
                    record(f"{name}_{clients}", phase)
    return results


def _cpus(text: str | None) -> set[int] | None:
    """``0`` or ``0,1`` or ``0-1`` as a set of CPU numbers."""
    if not text:
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[8], help="client processes (one phase each)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the S3 phase")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="0: skip the raw phase")
    parser.add_argument(
        "--shaped-seconds", type=float, default=5.0, help="raw clients sending boto3's headers"
    )
    parser.add_argument("--server-cpus", help="pin the server to these CPUs (taskset -c list)")
    parser.add_argument("--client-cpus", help="pin the client processes to these CPUs (0,1 / 0-1)")
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
