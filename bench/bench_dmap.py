"""Distributed Map at scale: the original processing map, and a 1,000,000-item MANIFEST.

Each command starts a real ``montemap server`` on loopback with its own data
directory, writes an S3 Inventory (``manifest.json`` and gzip CSV files) into
its local buckets, and drives it with boto3 only.

``original``: the shipped data-processing state machine's Distributed Map
state ("Processing DMap": MANIFEST reader, batches of 400 with BatchInput,
MaxConcurrency 1000, Retry 30 s x2 x3 on States.TaskFailed/States.Timeout,
HeartbeatSeconds 60, TimeoutSeconds 180, ResultWriter) taken verbatim from
``montemap/workflows/definitions/data-processing.asl.json`` with only its
activity Resource ARN bound, over a ``--keys`` inventory, served by
``--workers`` worker processes written against boto3 (the ``worker``
command below). Checks every key in the results exactly once.

``scale``: ``--items`` items through a Distributed Map at ``--max-concurrency``
(children: a Pass state, optionally a Wait first; ``--batch 0`` means no
ItemBatcher, one child per item) with a ResultWriter; reports the time and the
server's peak RSS (VmHWM).

``worker``: a boto3 activity worker. Per batch it writes
``<output_prefix>/batches/<batch id>.json`` (the batch id is a hash of the
item keys, so a retried batch replaces its own output) into the local bucket
and answers ``{"batch_id", "items"}``. ``--hold-first`` keeps the first batch
forever, heartbeating, so a test can SIGKILL the worker while it holds it.

    .venv/bin/python bench/bench_dmap.py original --keys 500000 --workers 4
    .venv/bin/python bench/bench_dmap.py scale --items 1000000 --batch 100 --max-concurrency 10000
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFINITION = REPO / "src" / "montemap" / "workflows" / "definitions" / "data-processing.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
DMAP_STATE = "Processing DMap"


# ----------------------------------------------------------------------------- inventory
def inventory_key(index: int) -> str:
    return f"data/loan-{index:08d}.json"


def write_inventory(
    buckets: Path, bucket: str, n_keys: int, *, rows_per_file: int = 100_000
) -> str:
    """An S3 Inventory of ``n_keys`` keys in ``buckets/bucket``; the manifest's key."""
    root = buckets / bucket
    (root / "inventory" / "data").mkdir(parents=True, exist_ok=True)
    files = []
    for number, start in enumerate(range(0, n_keys, rows_per_file)):
        key = f"inventory/data/part-{number:05d}.csv.gz"
        lines = "".join(
            f'"{bucket}","{inventory_key(i)}","512"\n'
            for i in range(start, min(n_keys, start + rows_per_file))
        )
        body = gzip.compress(lines.encode(), compresslevel=1)
        (root / key).write_bytes(body)
        files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    manifest = {
        "sourceBucket": bucket,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(time.time() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": files,
    }
    (root / "inventory" / "manifest.json").write_text(json.dumps(manifest))
    return "inventory/manifest.json"


# ----------------------------------------------------------------------------- definitions
def shipped_dmap_state() -> dict[str, Any]:
    """The "Processing DMap" state exactly as the shipped definition has it."""
    definition = json.loads(DEFINITION.read_text())
    outer = definition["States"]["Process Partitions"]["ItemProcessor"]["States"]
    state: dict[str, Any] = outer[DMAP_STATE]
    return state


def processing_dmap(
    activity_arn: str,
    *,
    heartbeat: int | None = None,
    timeout: int | None = None,
    retry_interval: int | None = None,
    max_concurrency: int | None = None,
    execution_type: str | None = None,
) -> dict[str, Any]:
    """A state machine of the shipped Distributed Map with its activity ARN bound.

    With no keyword the state is the published one; tests shorten
    HeartbeatSeconds, TimeoutSeconds and the Retry interval.
    """
    state = copy.deepcopy(shipped_dmap_state())
    task = state["ItemProcessor"]["States"]["Run Activity"]
    assert task["Resource"] == "${ActivityArn}"
    task["Resource"] = activity_arn
    if heartbeat is not None:
        task["HeartbeatSeconds"] = heartbeat
    if timeout is not None:
        task["TimeoutSeconds"] = timeout
    if retry_interval is not None:
        for retrier in task["Retry"]:
            retrier["IntervalSeconds"] = retry_interval
            retrier["BackoffRate"] = 1
    if max_concurrency is not None:
        state["MaxConcurrency"] = max_concurrency
    if execution_type is not None:
        state["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = execution_type
    return {"StartAt": DMAP_STATE, "States": {DMAP_STATE: state}}


def dmap_input(
    *, bucket: str, manifest_key: str, results_bucket: str, run_name: str, batch_size: int = 400
) -> dict[str, Any]:
    """The input "Process Partitions" hands each partition: ``{"manifest", "config"}``."""
    return {
        "manifest": {"bucket": bucket, "key": manifest_key},
        "config": {
            "results_bucket": results_bucket,
            "run_name": run_name,
            "batch_size": batch_size,
            "shocks_bp": [0, 100],
            "paths": 10,
            "seed": 0,
            "as_of": "2026-01-01",
            "cutoff": 0.5,
            "estimator": "is",
        },
    }


# ----------------------------------------------------------------------------- worker
def batch_id(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=75, connect_timeout=2),
    )


def _report(call: Any, **kwargs: Any) -> None:
    """Send a result, retrying while the server is away; give up if the task is gone."""
    from botocore.exceptions import BotoCoreError, ClientError

    while True:
        try:
            call(**kwargs)
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("TaskTimedOut", "TaskDoesNotExist"):
                return
            raise
        except BotoCoreError:
            time.sleep(0.2)


def worker(args: argparse.Namespace) -> int:
    """Poll, write the keyed batch output, report; forever (until killed)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client(args.endpoint)
    buckets = Path(args.buckets)
    held = False
    name = f"bench-{os.getpid()}"
    while True:
        try:
            task = client.get_activity_task(activityArn=args.activity, workerName=name)
        except (BotoCoreError, ClientError):
            time.sleep(0.2)  # the server is restarting
            continue
        token = task.get("taskToken")
        if not token:
            continue
        batch = json.loads(task["input"])
        keys = [item["Key"] for item in batch["Items"]]
        ident = batch_id(keys)
        if args.hold_first and not held:
            held = True
            print(f"HOLD {ident}", flush=True)
            while True:  # keep the lease alive until SIGKILL
                try:
                    client.send_task_heartbeat(taskToken=token)
                except (BotoCoreError, ClientError):
                    pass
                time.sleep(0.3)
        if args.delay:
            time.sleep(args.delay)
        params = batch["BatchInput"]
        out = buckets / params["output_bucket"] / params["output_prefix"] / "batches"
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{ident}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"batch_id": ident, "keys": keys}))
        os.replace(tmp, out / f"{ident}.json")
        result = {"batch_id": ident, "items": len(keys)}
        _report(client.send_task_success, taskToken=token, output=json.dumps(result))


def worker_command(
    endpoint: str, activity_arn: str, buckets: Path, *, hold_first: bool = False, delay: float = 0
) -> list[str]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "worker",
        "--endpoint",
        endpoint,
        "--activity",
        activity_arn,
        "--buckets",
        str(buckets),
        "--delay",
        str(delay),
    ]
    return [*command, "--hold-first"] if hold_first else command


# ----------------------------------------------------------------------------- checks
def check_results(
    buckets: Path, results_bucket: str, run_name: str, map_output: dict[str, Any], n_keys: int
) -> dict[str, int]:
    """Every key exactly once, in the ResultWriter's files and in the batch outputs."""
    details = map_output["ResultWriterDetails"]
    manifest = json.loads((buckets / details["Bucket"] / details["Key"]).read_text())
    files = manifest["ResultFiles"]
    assert not files.get("FAILED"), f"failed children: {files['FAILED']}"
    written: dict[str, int] = {}
    for entry in files["SUCCEEDED"]:
        for record in json.loads((buckets / details["Bucket"] / entry["Key"]).read_text()):
            output = json.loads(record["Output"])
            assert output["batch_id"] not in written, f"batch {output['batch_id']} written twice"
            written[output["batch_id"]] = output["items"]
    assert sum(written.values()) == n_keys, f"{sum(written.values())} items written, not {n_keys}"
    batches_dir = buckets / results_bucket / "runs" / run_name / "batches"
    seen: set[str] = set()
    batch_files = sorted(p for p in batches_dir.iterdir() if p.suffix == ".json")
    for path in batch_files:
        keys = json.loads(path.read_text())["keys"]
        assert path.stem in written, f"batch output {path.name} has no child result"
        assert not seen.intersection(keys), f"{path.name} repeats keys of another batch"
        seen.update(keys)
    assert len(batch_files) == len(written)
    assert seen == {inventory_key(i) for i in range(n_keys)}
    return {"children": len(written), "items": len(seen)}


# ----------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``montemap server`` subprocess on loopback."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "montemap.api.cli",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--log-level",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                with opener.open(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def peak_rss_mb(self) -> float:
        """The server's peak resident set size so far (VmHWM)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def processes(commands: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def wait_done(client: Any, arn: str, server: Server, limit: float) -> tuple[dict[str, Any], float]:
    """Poll DescribeExecution until the end; (description, highest RSS seen in MB)."""
    deadline = time.monotonic() + limit
    peak = 0.0
    while time.monotonic() < deadline:
        described: dict[str, Any] = client.describe_execution(executionArn=arn)
        peak = max(peak, server.rss_mb())
        if described["status"] != "RUNNING":
            return described, peak
        time.sleep(0.5)
    raise TimeoutError(f"{arn} still running after {limit} s")


# ----------------------------------------------------------------------------- commands
def original(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-dmap-"))
    server = Server(work / "data")
    try:
        buckets = work / "data" / "buckets"
        manifest = write_inventory(buckets, "portfolio", args.keys)
        (buckets / "results").mkdir(parents=True)
        server.start()
        client = _client(server.url)
        activity = client.create_activity(name="credit")["activityArn"]
        machine = client.create_state_machine(
            name="processing",
            definition=json.dumps(processing_dmap(activity)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
        )["stateMachineArn"]
        payload = dmap_input(
            bucket="portfolio", manifest_key=manifest, results_bucket="results", run_name="r1"
        )
        commands = [worker_command(server.url, activity, buckets) for _ in range(args.workers)]
        with processes(commands):
            started = time.monotonic()
            arn = client.start_execution(stateMachineArn=machine, input=json.dumps(payload))[
                "executionArn"
            ]
            described, peak = wait_done(client, arn, server, args.limit)
            elapsed = time.monotonic() - started
        assert described["status"] == "SUCCEEDED", described
        checked = check_results(
            buckets, "results", "r1", json.loads(described["output"]), args.keys
        )
        print(
            json.dumps(
                {
                    "benchmark": "original processing Distributed Map",
                    "keys": args.keys,
                    "workers": args.workers,
                    "children": checked["children"],
                    "seconds": round(elapsed, 1),
                    "items_per_s": round(args.keys / elapsed),
                    "server_peak_rss_mb": round(max(peak, server.peak_rss_mb()), 1),
                    "exactly_once": True,
                }
            )
        )
        return 0
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def scale(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-dmap-scale-"))
    server = Server(work / "data")
    try:
        buckets = work / "data" / "buckets"
        manifest = write_inventory(buckets, "portfolio", args.items)
        (buckets / "results").mkdir(parents=True)
        server.start()
        client = _client(server.url)
        states: dict[str, Any] = {"Done": {"Type": "Pass", "End": True}}
        start_at = "Done"
        if args.child_wait:
            states["Hold"] = {"Type": "Wait", "Seconds": args.child_wait, "Next": "Done"}
            start_at = "Hold"
        state: dict[str, Any] = {
            "Type": "Map",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "MANIFEST"},
                "Parameters": {"Bucket": "portfolio", "Key": manifest},
            },
            "MaxConcurrency": args.max_concurrency,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": args.child},
                "StartAt": start_at,
                "States": states,
            },
            "ResultWriter": {
                "Resource": "arn:aws:states:::s3:putObject",
                "Parameters": {"Bucket": "results", "Prefix": "scale"},
            },
            "End": True,
        }
        if args.batch:
            state["ItemBatcher"] = {"MaxItemsPerBatch": args.batch}
        machine = client.create_state_machine(
            name="scale",
            definition=json.dumps({"StartAt": "Scale", "States": {"Scale": state}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
        )["stateMachineArn"]
        started = time.monotonic()
        arn = client.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        peak_running = 0
        peak_rss = 0.0
        map_run = None
        deadline = started + args.limit
        while time.monotonic() < deadline:
            described = client.describe_execution(executionArn=arn)
            peak_rss = max(peak_rss, server.rss_mb())
            if map_run is None:
                runs = client.list_map_runs(executionArn=arn)["mapRuns"]
                map_run = runs[0]["mapRunArn"] if runs else None
            if map_run is not None:
                counts = client.describe_map_run(mapRunArn=map_run)["executionCounts"]
                peak_running = max(peak_running, counts["running"])
            if described["status"] != "RUNNING":
                break
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        assert described["status"] == "SUCCEEDED", described
        assert map_run is not None
        final = client.describe_map_run(mapRunArn=map_run)
        assert final["itemCounts"]["succeeded"] == args.items, final["itemCounts"]
        db = work / "data" / "montemap.db"
        print(
            json.dumps(
                {
                    "benchmark": "Distributed Map scale",
                    "items": args.items,
                    "batch": args.batch,
                    "children": final["executionCounts"]["succeeded"],
                    "child_type": args.child,
                    "max_concurrency": args.max_concurrency,
                    "peak_running_children_seen": peak_running,
                    "seconds": round(elapsed, 1),
                    "items_per_s": round(args.items / elapsed),
                    "children_per_s": round(final["executionCounts"]["succeeded"] / elapsed),
                    "server_peak_rss_mb": round(max(peak_rss, server.peak_rss_mb()), 1),
                    "db_mb": round(
                        sum(p.stat().st_size for p in db.parent.glob("montemap.db*")) / 2**20
                    ),
                }
            )
        )
        return 0
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("original", help="the shipped processing map over an inventory")
    p.add_argument("--keys", type=int, default=500_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--limit", type=float, default=1800)
    p.set_defaults(func=original)
    p = sub.add_parser("scale", help="a large MANIFEST through a Distributed Map")
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=100, help="MaxItemsPerBatch; 0: no ItemBatcher")
    p.add_argument("--max-concurrency", type=int, default=10_000)
    p.add_argument("--child", choices=["STANDARD", "EXPRESS"], default="STANDARD")
    p.add_argument("--child-wait", type=int, default=0, help="a Wait of N s in each child")
    p.add_argument("--limit", type=float, default=3600)
    p.set_defaults(func=scale)
    p = sub.add_parser("worker", help="a boto3 activity worker (no-op batch handler)")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--activity", required=True)
    p.add_argument("--buckets", required=True, help="the server's <data-dir>/buckets")
    p.add_argument("--delay", type=float, default=0.0, help="seconds per batch")
    p.add_argument("--hold-first", action="store_true")
    p.set_defaults(func=worker)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
