"""All the CPU the machine uses while ``montemap simulate`` or ``montemap run`` runs, this
tree against an older source folder, alternated.

Wall times of one run move by 15-20% on a shared machine; the machine's busy time
(``/proc/stat``: everything but idle and iowait) over a command that has the machine to
itself moves much less, and counts every process the command starts (server, workers,
pools, function processes) and the kernel's work for them. Uses the data directory
layout of ``bench_main_job.py`` (``DIR/montemap-data`` for this tree,
``DIR/baseline/montemap-data`` for the older one; run ``bench_main_job.py
--baseline-src`` once to make it)::

    python bench/bench_cpu_ab.py --data-dir /tmp/bench/d500k --baseline-src OLD/src \\
        --what run --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    from bench._pyenv import SRC, child_env, compile_sources
    from bench._server import busy_seconds
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._pyenv import SRC, child_env, compile_sources
    from bench._server import busy_seconds

COMMON = ["--paths", "1000", "--shocks", "0,100,200,300", "--seed", "1", "--as-of", "2026-11-27"]


def one(what: str, data: Path, src: Path, loans: int, workers: int, tag: str) -> dict[str, object]:
    env = child_env(src)
    name = f"cpu-ab-{tag}-{int(time.time())}"
    if what == "simulate":
        out = data.parent / name
        cmd = ["simulate", "--data-dir", str(data), "--out", str(out), "--workers", str(workers)]
    else:
        cmd = ["run", "--data-dir", str(data), "--loans", str(loans), "--workers", str(workers)]
        cmd += ["--task-definition", "small", "--name", name, "--quiet"]
    busy, start = busy_seconds(), time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "montemap.cli", *cmd, *COMMON],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    record: dict[str, object] = {
        "what": what,
        "code": tag,
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(busy_seconds() - busy, 1),
        "load_1min": round(os.getloadavg()[0], 1),
    }
    if what == "run":
        run_json = json.loads((data / "runs" / name / "run.json").read_text())
        record["server_cpu_s"] = run_json.get("server_process_cpu_seconds")
        shutil.rmtree(data / "runs" / name, ignore_errors=True)
        shutil.rmtree(data / "buckets" / "montemap-results" / "runs" / name, ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--baseline-src", type=Path, required=True)
    parser.add_argument("--what", choices=("simulate", "run"), default="run")
    parser.add_argument("--loans", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    compile_sources(args.baseline_src)
    codes = {
        "baseline": (args.data_dir / "baseline" / "montemap-data", args.baseline_src),
        "this tree": (args.data_dir / "montemap-data", SRC),
    }
    for _ in range(args.repeat):
        for tag, (data, src) in codes.items():
            record = one(args.what, data, src, args.loans, args.workers, tag.split()[0])
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
