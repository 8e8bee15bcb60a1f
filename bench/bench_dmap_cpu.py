"""Server CPU per Distributed Map batch, with workers that cost the server nothing else.

A real ``montemap server`` (bytecode caches on) runs the shipped "Processing DMap"
state (:func:`bench_dmap.processing_dmap`) over a ``--keys`` S3 Inventory
(:func:`bench_dmap.write_inventory`: ``--keys / 400`` batches), answered by
``--workers`` no-op worker threads speaking JSON 1.0 over raw sockets
(:class:`bench_activity.Client`: GetActivityTask, then SendTaskSuccess with
``{"batch_id", "items"}``). The figure is the server process's CPU from
StartExecution to the execution's end (``/proc``), divided by the batches answered.
With ``--baseline-src`` the baseline's server and this checkout's alternate, each
round with a fresh data directory over the same inventory.

``--task-ms M`` makes each worker hold its task M ms before reporting it, as real
workers do (~100 ms a batch in ``montemap run``): the shipped state's MaxConcurrency
(1000) then keeps ~1,000 children waiting at once, as in ``run``, and a batch costs the
server more than with instant answers (session 23: 2.6-2.8 against 1.9-2.0 ms at 50 ms).

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/bench_dmap_cpu.py \\
        --keys 500000 --workers 8 --baseline-src /tmp/base-src --rounds 4

``--montemap-worker`` answers with a :class:`montemap.worker.Worker` (``--workers`` slots,
a no-op handler) on a thread of the benchmark instead, and also reports the benchmark
process's CPU per batch (``worker_ms_per_batch``): the worker's side of the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._pyenv import compile_sources
from bench._server import cpu_seconds, free_port, start_server, stop_server, wait_healthy
from bench.bench_activity import Client
from bench.bench_dmap import ACCOUNT, dmap_input, processing_dmap, write_inventory

SOURCE = "portfolio"


def _answer(
    port: int,
    activity: str,
    name: str,
    done: threading.Event,
    counts: list[int],
    task_seconds: float = 0.0,
) -> None:
    """A no-op worker: take a task, (hold it ``task_seconds``,) report it done, until ``done``."""
    client = Client(port)
    try:
        while not done.is_set():
            task = client.call("GetActivityTask", {"activityArn": activity, "workerName": name})
            token = task.get("taskToken")
            if token:
                if task_seconds:
                    time.sleep(task_seconds)
                output = json.dumps({"batch_id": f"{name}-{counts[0]}", "items": 400})
                client.call("SendTaskSuccess", {"taskToken": token, "output": output})
                counts[0] += 1
    except (OSError, RuntimeError):
        return
    finally:
        client.close()


def _montemap_worker(port: int, activity: str, slots: int, task_seconds: float) -> Any:
    """A :class:`montemap.worker.Worker` of ``slots`` slots with a no-op handler (holding
    each task ``task_seconds``), serving on a thread of this process."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")  # its client signs: any key will do
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    from montemap.worker import Worker

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if task_seconds:
            time.sleep(task_seconds)
        return {"batch_id": f"b-{context.task_token[-12:]}", "items": len(event["Items"])}

    worker = Worker(
        handle, activity_arn=activity, endpoint_url=f"http://127.0.0.1:{port}", concurrency=slots
    )
    threading.Thread(
        target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True
    ).start()
    return worker


def once(
    src: str | None,
    inventory: Path,
    workers: int,
    work: Path,
    task_ms: float = 0.0,
    montemap_worker: bool = False,
) -> dict[str, Any]:
    """One execution over ``inventory`` on a fresh server of ``src``: its CPU per batch
    (and, with ``montemap_worker``, the worker's own)."""
    data = Path(tempfile.mkdtemp(prefix="dmap-cpu-", dir=work))
    shutil.copytree(inventory / SOURCE, data / "buckets" / SOURCE)
    (data / "buckets" / "results").mkdir()
    port = free_port()
    server = start_server(port, str(data), src)
    done = threading.Event()
    try:
        wait_healthy(port, server)
        api = Client(port)
        activity = api.call("CreateActivity", {"name": "credit"})["activityArn"]
        machine = api.call(
            "CreateStateMachine",
            {
                "name": "processing",
                "definition": json.dumps(processing_dmap(activity)),
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/bench",
            },
        )["stateMachineArn"]
        payload = dmap_input(
            bucket=SOURCE,
            manifest_key="inventory/manifest.json",
            results_bucket="results",
            run_name="r1",
        )
        counts = [[0] for _ in range(workers)]
        worker = None
        own_before = time.process_time()
        if montemap_worker:
            worker = _montemap_worker(port, activity, workers, task_ms / 1e3)
        else:
            for i in range(workers):
                threading.Thread(
                    target=_answer, args=(port, activity, f"w{i}", done, counts[i], task_ms / 1e3)
                ).start()
        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        arn = api.call(
            "StartExecution", {"stateMachineArn": machine, "input": json.dumps(payload)}
        )["executionArn"]
        while (status := api.call("DescribeExecution", {"executionArn": arn}))[
            "status"
        ] == "RUNNING":
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        own = time.process_time() - own_before
        api.close()
        if status["status"] != "SUCCEEDED":
            raise SystemExit(f"the execution ended {status['status']}: {status}")
        batches = worker.stats.succeeded if worker is not None else sum(c[0] for c in counts)
        result = {
            "src": src or "this checkout",
            "batches": batches,
            "seconds": round(seconds, 1),
            "server_cpu_s": round(cpu, 2),
            "ms_per_batch": round(cpu / batches * 1e3, 3),
            "load": round(os.getloadavg()[0], 1),
        }
        if worker is not None:  # this process: the worker, and this loop's few calls
            result["worker_ms_per_batch"] = round(own / batches * 1e3, 3)
        return result
    finally:
        if worker is not None:
            worker.request_shutdown()
        done.set()
        stop_server(server, None, grace=60)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--baseline-src", help="a montemap src folder to alternate with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--task-ms", type=float, default=0.0, help="each worker holds a task this long"
    )
    parser.add_argument(
        "--montemap-worker",
        action="store_true",
        help="serve with montemap.worker.Worker (--workers slots, a no-op handler) instead "
        "of raw sockets, and report its CPU per batch too",
    )
    args = parser.parse_args()
    compile_sources(args.baseline_src, None)
    variants = [args.baseline_src, None] if args.baseline_src else [None]
    with tempfile.TemporaryDirectory(prefix="bench-dmap-cpu-") as tmp:
        work = Path(tmp)
        write_inventory(work / "inventory", SOURCE, args.keys)
        for _ in range(args.rounds):
            for src in variants:
                result = once(
                    src, work / "inventory", args.workers, work, args.task_ms, args.montemap_worker
                )
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
