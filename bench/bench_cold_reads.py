"""Reading a batch's loan objects out of the page cache, and in it (issue 13, 5M loans).

A 5,000,000-loan portfolio is 5,000,000 small objects (20 GB of 4 KB blocks): more than
this machine's page cache, so ``montemap simulate`` reads most of them from the disk,
where a 500,000-loan portfolio is read from memory. This bench times
``credit/objects.py``'s ``read_objects`` on batches of 400 objects of a portfolio in a
data directory, in a child process per code (this tree, and ``--baseline-src DIR`` an
older ``src``, alternating round by round), each on a fresh range of objects:

- cold: the range as found (its first batch is read untimed: a process's first batch
  carries one-off costs) (``--drop``: its pages dropped first with
  ``POSIX_FADV_DONTNEED``, which leaves the inodes cached; it only drops cached pages and
  never writes), the share of it in the page cache sampled with ``mincore`` before;
- warm: the same batches read again, ``--warm-repeats`` times.

``--whole-batch`` times the worker's whole batch instead (``process_batch``: read, parse,
simulate 1,000 paths of 4 scenarios, write the outputs to a temporary folder).

``--drop-after-reading`` alternates this tree with itself dropping each object's pages
once read (``objects.drop_after_reading``, as ``montemap simulate``'s workers do for a
portfolio too large to stay cached): its "warm" column then reads cold objects again.

Each row: wall and process CPU (user + system) per object, and the machine's iowait over
the cold pass; each child checks its bytes against plain ``open().read()`` (reads only).

    python bench/bench_cold_reads.py --data /tmp/montemap-scale/5000000/data \\
        --skip 3000000 --batches 10 --rounds 2 --baseline-src /tmp/s21/head/src
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

try:
    from bench._page_cache import cached_share, drop_pages
    from bench._pyenv import child_env, compile_sources
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._page_cache import cached_share, drop_pages
    from bench._pyenv import child_env, compile_sources

BATCH = 400
_CHILD = r"""
import datetime, json, os, shutil, sys, tempfile, time
from montemap.credit.batch import process_batch
from montemap.credit.objects import Item, read_objects
from montemap.credit.params import RunParams
from montemap.storage import LocalObjectStore
root, repeats, whole = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
if sys.argv[4] == "1":  # each object's pages dropped once read, as simulate does at 5M
    from montemap.credit.objects import drop_after_reading
    drop_after_reading(True)
keys = json.loads(sys.stdin.read())
store = LocalObjectStore(root)
batches = [[Item("montemap-source", k) for k in keys[i:i + 400]] for i in range(0, len(keys), 400)]
work = tempfile.mkdtemp(prefix="cold-reads-")
params = RunParams(output_bucket="montemap-results", as_of=datetime.date(2026, 11, 27))
def run_batch(batch):
    if not whole:
        return read_objects(store, batch)
    items = [{"Bucket": it.bucket, "Key": it.key} for it in batch]
    event = {"Items": items, "BatchInput": params.to_batch_input()}
    return [process_batch(event, store, LocalObjectStore(work))["loans"]]
def iowait():
    return int(open("/proc/stat").readline().split()[5]) / os.sysconf("SC_CLK_TCK")
def timed(todo):
    t, c = time.perf_counter(), time.process_time()
    out = [b for batch in todo for b in run_batch(batch)]
    return time.perf_counter() - t, time.process_time() - c, out
first = run_batch(batches[0])  # one-off costs of a process's first batch: untimed
w = iowait()
cold_wall, cold_cpu, bodies = timed(batches[1:])
w = iowait() - w
bodies = first + bodies
warm = [timed(batches[1:])[:2] for _ in range(repeats)]
shutil.rmtree(work)
plain = [open(os.path.join(root, "montemap-source", k), "rb").read() for k in keys]
print(json.dumps({"cold_wall": cold_wall, "cold_cpu": cold_cpu, "iowait": w,
    "warm_wall": min(x[0] for x in warm), "warm_cpu": min(x[1] for x in warm),
    "identical": whole or bodies == plain}))
"""


def inventory_keys(data: Path, skip: int, count: int) -> list[str]:
    """``count`` keys of the portfolio's inventory after the first ``skip``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from montemap.credit.simulate import iter_inventory_items
    from montemap.storage import local_store

    items = itertools.islice(iter_inventory_items(local_store(data)), skip, skip + count)
    return [it["Key"] for it in items]


def run_child(
    src: str | None, root: Path, keys: list[str], repeats: int, whole: bool, drop: bool = False
) -> dict[str, float]:
    flags = ["1" if whole else "0", "1" if drop else "0"]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), str(repeats), *flags],
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        env=child_env(src),
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {proc.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, required=True, help="a portfolio's data directory")
    ap.add_argument("--skip", type=int, default=0, help="objects of the inventory to skip")
    ap.add_argument("--batches", type=int, default=10, help="batches of 400 a run")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warm-repeats", type=int, default=3)
    ap.add_argument("--drop", action="store_true", help="drop each range's pages first")
    ap.add_argument(
        "--whole-batch",
        action="store_true",
        help="time the worker's whole batch (process_batch: read, parse, simulate, write)",
    )
    ap.add_argument("--baseline-src", help="an older src, run before this tree each round")
    ap.add_argument(
        "--drop-after-reading",
        action="store_true",
        help="alternate this tree with itself dropping each object's pages once read "
        "(objects.drop_after_reading, as simulate does for a portfolio too large to "
        "stay cached) instead of with --baseline-src",
    )
    args = ap.parse_args()
    codes: list[tuple[str, str | None, bool]] = []
    if args.baseline_src:
        codes.append(("baseline", args.baseline_src, False))
    codes.append(("this tree", None, False))
    if args.drop_after_reading:
        codes = [("this tree", None, False), ("this tree, dropped once read", None, True)]
    compile_sources(args.baseline_src)
    per_run = args.batches * BATCH
    keys = inventory_keys(args.data, args.skip, per_run * len(codes) * args.rounds)
    root = args.data / "buckets" / "montemap-source"
    print("| code | objects | in cache before | cold us/obj (CPU) | iowait | warm us/obj (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    ranges = iter(keys[i : i + per_run] for i in range(0, len(keys), per_run))
    for r in range(args.rounds):
        for name, src, drop in codes if r % 2 == 0 else codes[::-1]:
            chunk = next(ranges)
            if args.drop:
                drop_pages(root, chunk)
            share = cached_share(root, chunk[::16])  # one in 16
            res = run_child(
                src, args.data / "buckets", chunk, args.warm_repeats, args.whole_batch, drop
            )
            if not res["identical"]:
                raise SystemExit(f"{name}: bytes differ from plain reads")
            n = len(chunk) - BATCH  # the first batch is untimed
            print(
                f"| {name} | {n:,} | {share:.0%} | {res['cold_wall'] / n * 1e6:.1f} "
                f"({res['cold_cpu'] / n * 1e6:.1f}) | {res['iowait']:.2f} s | "
                f"{res['warm_wall'] / n * 1e6:.1f} ({res['warm_cpu'] / n * 1e6:.1f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
