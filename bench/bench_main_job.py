"""The main job's overhead: ``montemap run`` against ``montemap simulate`` on the same data.

Generates the portfolio once (not timed), then times, with the same number of
worker processes, ``montemap simulate --data-dir`` (a process pool, no engine)
and ``montemap run`` (embedded server, Distributed Map, activity workers),
alternating them ``--repeat`` times, and prints the wall times and their ratio.

    .venv/bin/python bench/bench_main_job.py --loans 500000 --workers 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMON = ["--paths", "1000", "--shocks", "0,100,200,300", "--seed", "1", "--as-of", "2026-11-27"]


def montemap(*args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"montemap {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--loans", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--task-definition", default="small")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--data-dir", help="reuse a data dir (default: a temporary one)")
    args = parser.parse_args()

    data = Path(args.data_dir or tempfile.mkdtemp(prefix="montemap-main-")) / "montemap-data"
    marker = data / "portfolio.json"
    if not marker.exists():
        print(f"generating {args.loans:,} loans (not timed) ...", file=sys.stderr)
        montemap(
            "generate",
            "--loans",
            str(args.loans),
            "--seed",
            "1",
            "--as-of",
            "2026-11-27",
            "--data-dir",
            str(data),
            "--quiet",
            "--force",
        )
        marker.write_text(json.dumps({"loans": args.loans, "layout": "realistic", "seed": 1}))
    simulate_s, run_s = [], []
    for i in range(args.repeat):
        out = data.parent / f"simulate-{i}"
        simulate_s.append(
            montemap(
                "simulate",
                "--data-dir",
                str(data),
                "--out",
                str(out),
                "--workers",
                str(args.workers),
                *COMMON,
            )
        )
        run_s.append(
            montemap(
                "run",
                "--data-dir",
                str(data),
                "--loans",
                str(args.loans),
                "--workers",
                str(args.workers),
                "--task-definition",
                args.task_definition,
                "--name",
                f"bench-{i}-{int(time.time())}",
                "--quiet",
                *COMMON,
            )
        )
    run_record = sorted((data / "runs").glob("bench-*/run.json"))[-1]
    record = json.loads(run_record.read_text())
    result = {
        "loans": args.loans,
        "workers": args.workers,
        "task_definition": args.task_definition,
        "cpu_count": os.cpu_count(),
        "simulate_seconds": [round(s, 1) for s in simulate_s],
        "run_seconds": [round(s, 1) for s in run_s],
        "ratio_run_over_simulate": round(
            statistics.median(run_s) / statistics.median(simulate_s), 3
        ),
        "run_execution_seconds": record["duration_seconds"],
        "run_vcpu_seconds": record["cost"]["vcpu_seconds"],
        "run_cost_usd": record["cost"]["usd"],
        "run_server_process_cpu_seconds": record.get("server_process_cpu_seconds"),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
