"""The workshop's worker pattern, brought as it is, against ``montemap run`` on as many loans.

In one run, on the same machine:

1. ``montemap run`` on ``--loans`` loans (``montemap generate`` first, not
   timed): montemap's own data-processing workflow and workers;
2. a ``montemap server`` with ``tests/byo/stacks/mapping.yaml``, the two
   stacks of ``tests/byo/stacks`` deployed (``montemap deploy``, not timed),
   the generation workflow run (not timed: it writes one JSON object per
   loan and the plain-CSV inventory), then the processing workflow, timed:
   scale out ``--workers`` tasks, a Distributed Map of ``--batch``-loan
   batches through the activity to ``fargate.py``, which does one boto3
   GetObject and one boto3 PutObject per loan, and scale in.

Prints both wall times and the ratio (target: within 2x), plus the server's
CPU seconds during the processing workflow and the worker tasks' (every
process below the server, sampled twice a second), each also per S3 request
(the tasks' figure includes their start-up and activity polls).

    .venv/bin/python bench/bench_byo.py --loans 20000 --workers 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from montemap.testing import MontemapServer, wait_for_execution

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "tests" / "byo" / "stacks"
COMMON = ["--paths", "1000", "--shocks", "0,100,200,300", "--seed", "1", "--as-of", "2026-11-27"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}


def montemap(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args], env=_env(), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"montemap {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    """The process's CPU seconds (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescendantsCpu:
    """CPU seconds of every process below ``root`` (its tasks), sampled twice a second.

    A task's process group is killed on scale-in, so its CPU never reaches the
    server's ``cutime``: each descendant's last sample counts instead (what a
    process spends in its last half second is missed).
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.last: dict[tuple[int, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DescendantsCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.last.values())

    def _run(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(0.5):
            stats: dict[int, list[str]] = {}
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    try:
                        text = Path(entry.path, "stat").read_text()
                    except OSError:
                        continue
                    stats[int(entry.name)] = text.rsplit(")", 1)[1].split()
            for pid, fields in stats.items():
                parent = int(fields[1])
                while parent not in (0, 1, self.root) and parent in stats:
                    parent = int(stats[parent][1])
                if parent == self.root:  # keyed with the start time: pids are reused
                    self.last[(pid, fields[19])] = (int(fields[11]) + int(fields[12])) / ticks


def montemap_run(root: Path, loans: int, workers: int) -> float:
    data = root / "run-data"
    print(f"generating {loans:,} loans for montemap run (not timed) ...", file=sys.stderr)
    montemap(
        *("generate", "--loans", str(loans), "--seed", "1", "--as-of", "2026-11-27"),
        *("--data-dir", str(data), "--quiet", "--force"),
    )
    print("montemap run ...", file=sys.stderr)
    return montemap(
        *("run", "--data-dir", str(data), "--loans", str(loans), "--workers", str(workers)),
        *("--task-definition", "small", "--name", "bench-byo", "--quiet", *COMMON),
    )


def outputs(server: MontemapServer, name: str) -> dict[str, str]:
    stack = server.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def deploy(server: MontemapServer, template: str, name: str, params: dict[str, int]) -> None:
    pairs = [a for k, v in params.items() for a in ("--parameter", f"{k}={v}")]
    montemap(
        *("deploy", str(STACKS / template), "--stack-name", name),
        *("--endpoint-url", server.url, *pairs),
    )


def wait_scaled_in(server: MontemapServer, proc: dict[str, str]) -> None:
    """Until the workflow's Destroy Workers has stopped every task."""
    ecs = server.client("ecs")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = ecs.describe_services(cluster=proc["ClusterName"], services=[proc["ServiceName"]])
        service = found["services"][0]
        if service["runningCount"] == 0 and service["pendingCount"] == 0:
            return
        time.sleep(0.2)  # polling a condition
    raise SystemExit("the workers did not stop within 120 s of the workflow's end")


def byo_run(root: Path, loans: int, workers: int, batch: int) -> dict[str, Any]:
    server = MontemapServer(
        root / "byo-data",
        extra_args=["--mapping", str(STACKS / "mapping.yaml")],
        env=_env(),
    )
    server.start()
    try:
        chunk = max(1, loans // 4)
        gen_params = {"DatasetSize": loans, "LoansPerChunk": chunk, "InventoryPartSize": 5000}
        deploy(server, "data-generation.yaml", "sfn-datagen", gen_params)
        proc_params = {"Workers": workers, "BatchSize": batch}
        deploy(server, "data-processing.yaml", "sfn-dataproc", proc_params)
        sfn = server.client("stepfunctions", read_timeout=600)
        print(f"generating {loans:,} loan objects over S3 (not timed) ...", file=sys.stderr)
        gen = outputs(server, "sfn-datagen")
        started = sfn.start_execution(stateMachineArn=gen["StateMachineArn"], input="{}")
        done = wait_for_execution(sfn, started["executionArn"], timeout=1800, interval=0.5)
        if done["status"] != "SUCCEEDED":
            raise SystemExit(f"generation {done['status']}: {done.get('cause')}")
        print("processing workflow (timed) ...", file=sys.stderr)
        assert server.proc is not None
        cpu_before = cpu_seconds(server.proc.pid)
        with DescendantsCpu(server.proc.pid) as tasks:
            begin = time.perf_counter()
            arn = outputs(server, "sfn-dataproc")["StateMachineArn"]
            started = sfn.start_execution(stateMachineArn=arn, input="{}")
            done = wait_for_execution(sfn, started["executionArn"], timeout=1800, interval=0.1)
            wall = time.perf_counter() - begin
        if done["status"] != "SUCCEEDED":
            raise SystemExit(f"processing {done['status']}: {done.get('cause')}")
        server_cpu = cpu_seconds(server.proc.pid) - cpu_before
        wait_scaled_in(server, outputs(server, "sfn-dataproc"))
        s3 = server.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=gen["ResultsBucket"], Prefix="results/"
        )
        results = sum(page.get("KeyCount", 0) for page in pages)
        if results != loans:
            raise SystemExit(f"processing wrote {results} results for {loans} loans")
        return {
            "seconds": wall,
            "server_cpu_seconds": server_cpu,
            "tasks_cpu_seconds": tasks.seconds,
            "results": results,
        }
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=400)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="montemap-byo-"))
    try:
        run_s = montemap_run(root, args.loans, args.workers)
        byo = byo_run(root, args.loans, args.workers, args.batch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "loans": args.loans,
        "workers": args.workers,
        "batch": args.batch,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "montemap_run_seconds": round(run_s, 1),
        "byo_processing_seconds": round(byo["seconds"], 1),
        "byo_server_cpu_seconds": round(byo["server_cpu_seconds"], 1),
        "byo_task_cpu_seconds": round(byo["tasks_cpu_seconds"], 1),
        "byo_requests_per_second": round(2 * args.loans / byo["seconds"]),
        "server_cpu_us_per_s3_request": round(byo["server_cpu_seconds"] / (2 * args.loans) * 1e6),
        "task_cpu_us_per_s3_request": round(byo["tasks_cpu_seconds"] / (2 * args.loans) * 1e6),
        "ratio_byo_over_run": round(byo["seconds"] / run_s, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
