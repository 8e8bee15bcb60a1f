"""Memory and time of ``montemap simulate`` as the portfolio grows (issue 13).

For each size: generate the portfolio (reused when already there), run ``montemap
simulate`` on it in a child process, and report the wall time, the time per loan, the
peak RSS of the main process (it reads the inventory, feeds the pool and runs the
streaming reduction and the report) and of each worker (VmHWM, polled from /proc).
The target: the peak RSS at the largest size no higher than at the smallest, and the
time per loan within 10%.

    python bench/bench_scale.py --loans 500000 5000000 --root /tmp/montemap-scale

``--baseline-src DIR`` (an older ``src``) runs each size with it first, then with this
tree (a row each).

Each row also splits the run into its phases, as the main process sees them: ``map``
(from the command's start to the reduction: imports, the inventory, feeding the pool
while the workers run every batch), ``reduce`` and ``report``, with the main process's
CPU, its peak RSS in each phase (reset at each phase through ``/proc/self/clear_refs``),
and what the machine read from its disks in each (``/proc/vmstat`` pgpgin); and the CPU
time of the command and all its processes (pool, workers: read from ``/proc`` every 0.5
s) per loan, which a shared machine's load disturbs less than wall time, with the CPU
time the kernel's page reclaim (``kswapd``) took meanwhile.

``--cold`` drops each portfolio's objects from the page cache before its run, so that
every size reads its objects from the disk (a 5,000,000-object portfolio cannot stay
cached on a 24 GB machine; a 500,000-object one can): each object opened and
``POSIX_FADV_DONTNEED``, which needs no privileges but drops only clean pages (all is synced first);
the inodes and dentries stay cached (only ``/proc/sys/vm/drop_caches``, as root, drops
those). ``fincore`` checks a sample before and after (the row's "cache" column). Without
it, the objects are read as the cache holds them (the default).

``--keep-work`` keeps each run's batch outputs (``simulate`` otherwise deletes its work
folder; the bench sets ``MONTEMAP_KEEP_WORK=1`` for the child) in
``<root>/<loans>/out/.work``, to probe the reduction and the report on them alone:

    python bench/bench_scale.py --reduce-only /tmp/montemap-scale/500000/out/.work --prefix run

Results go to stdout as a Markdown table and, one JSON object a size, to
``<root>/results.jsonl`` (appended as each size finishes, so a long run can be read
while it goes on).

``--reduce-only BUCKETS`` times the reduction and the report alone on kept batch
outputs (``BUCKETS/montemap-results/runs/<run>/batches/``, as ``montemap run`` leaves
them, or a ``simulate`` work folder kept for the purpose): each repeat runs them in a
child process and reports wall time, process CPU (all threads), the main thread's CPU
and the peak RSS; with ``--baseline-src DIR`` (an older ``src``) the two codes
alternate, repeat by repeat, on the same outputs:

    python bench/bench_scale.py --reduce-only /tmp/bench/d500k/montemap-data/buckets \
        --baseline-src /tmp/base-src --repeat 2

With ``--lambda`` each repeat also runs ``montemap run``'s "Reduce and Report" function
(``workflows.functions.reduce_and_report``: the reduction, the upload of the run's files
to the store and the report) in a fresh process, on a hard-linked copy of the outputs
under ``<root>/lambda-data`` (the kept outputs are only read), and reports its imports
apart from its work. ``--unhashed`` makes that copy a real one
(``<root>/lambda-data-unhashed``) and removes the batch outputs' computed ETags
(``user.montemap.etag``) before each repeat, as ``montemap run`` leaves them right after
its maps (written with ``put_no_etag``): a listing that asks for ETags then hashes every
output again.

``--pass1`` (with ``--reduce-only``) times the reduction's first pass alone
(``scan_batches``): wall, CPU, the main thread's, the other threads' (the prefetch
thread's, mostly) and its helper process's. Every CPU figure counts the helper processes
a reduction forks (``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

try:
    from bench._page_cache import cached_share, drop_pages
    from bench._pyenv import child_env, compile_sources
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._page_cache import cached_share, drop_pages
    from bench._pyenv import child_env, compile_sources

AS_OF = "2026-11-27"
#: The attribute that keeps a batch output's MD5 once computed (storage/local_meta.py).
ETAG_XATTR = "user.montemap.etag"
_DRIVER = """
import resource, sys, time
from montemap.cli import main
def mark(phase):  # wall clock, this process's CPU, its peak RSS since the last mark
    try:
        with open("/proc/self/status") as f:
            hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak: the next mark reports the next phase's
    except (OSError, StopIteration, ValueError):
        hwm = 0
    try:  # the disk: this process's reads, and the whole machine's (pgpgin, KB)
        with open("/proc/self/io") as f:
            own = next(int(x.split()[1]) for x in f if x.startswith("read_bytes:"))
        with open("/proc/vmstat") as f:
            disk = next(int(x.split()[1]) for x in f if x.startswith("pgpgin "))
    except (OSError, StopIteration, ValueError):
        own = disk = 0
    print("PHASE", phase, time.time(), time.process_time(), hwm, own, disk * 1024, flush=True)
try:  # the phases of simulate: feeding the pool (the maps), reduce, report
    import montemap.credit.simulate as _sim
    def _timed(name, fn):
        def run(*args, **kwargs):
            mark(name)
            return fn(*args, **kwargs)
        return run
    _sim.reduce_run = _timed("reduce", _sim.reduce_run)
    _sim.write_html_report = _timed("report", _sim.write_html_report)
except (ImportError, AttributeError):
    pass
code = main(sys.argv[1:])
mark("end")
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
sys.exit(code)
"""


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kswapd_seconds() -> float:
    """The CPU time of the kernel's page reclaim threads (``kswapd*``) so far."""
    total = 0.0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().startswith("kswapd"):
                    total += _cpu_seconds(int(entry))
        except (OSError, ValueError):
            continue
    return total


def _poll(pid: int, peaks: dict[int, int], cpu: dict[int, float], done: threading.Event) -> None:
    """Every 0.5 s: each child's peak RSS, and the CPU time of the command and all its
    descendants (the last reading of each: a process's last 0.5 s may be missed)."""
    while not done.is_set():
        family, seen = [pid], 0
        while seen < len(family):
            family += _children(family[seen])
            seen += 1
        for member in family:
            cpu[member] = max(cpu.get(member, 0.0), _cpu_seconds(member))
        for child in _children(pid):
            peaks[child] = max(peaks.get(child, 0), _hwm_kb(child))
        done.wait(0.5)


def generate(root: Path, loans: int) -> float:
    """Generate ``loans`` loans under ``root/data`` unless already there; seconds taken."""
    marker = root / "generated.json"
    if marker.exists() and json.loads(marker.read_text()).get("loans") == loans:
        return 0.0
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    start = time.perf_counter()
    command = ["generate", "--loans", str(loans), "--quiet", "--data-dir", str(root / "data")]
    command += ["--seed", "1", "--as-of", AS_OF]
    subprocess.run([sys.executable, "-c", _DRIVER, *command], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps({"loans": loans, "seconds": seconds}))
    return seconds


def simulate(
    root: Path,
    workers: int,
    paths: int,
    report: bool,
    keep_work: bool = False,
    src: Path | None = None,
) -> dict[str, Any]:
    """One ``montemap simulate`` run: wall time and peak RSS of the main process and workers
    (with ``keep_work``, its batch outputs are left in ``root/out/.work``; ``src``: another
    source folder to run)."""
    out = root / "out"
    shutil.rmtree(out, ignore_errors=True)
    args = ["simulate", "--data-dir", str(root / "data"), "--out", str(out)]
    args += ["--as-of", AS_OF, "--paths", str(paths), "--workers", str(workers)]
    args += [] if report else ["--no-report"]
    env = child_env(src)
    if keep_work:
        env["MONTEMAP_KEEP_WORK"] = "1"
    load_before = os.getloadavg()[0]
    began, disk0 = time.time(), _disk_read()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    peaks: dict[int, int] = {}
    cpu: dict[int, float] = {}
    kswapd = _kswapd_seconds()
    done = threading.Event()
    poller = threading.Thread(target=_poll, args=(proc.pid, peaks, cpu, done), daemon=True)
    poller.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    poller.join()
    kswapd = _kswapd_seconds() - kswapd
    if proc.returncode != 0:
        raise SystemExit(f"simulate failed ({proc.returncode}):\n{stdout}")
    main_kb = next(int(x.split()[1]) for x in stdout.splitlines() if x.startswith("MAXRSS_KB"))
    summary = json.loads((out / "summary.json").read_text())
    workers_kb = sorted((kb for kb in peaks.values() if kb > 60_000), reverse=True)
    phases = _phases(stdout, began, disk0)
    if phases:  # the marks reset the peak (clear_refs): the highest phase is the run's
        main_kb = max(int(p["main_peak_mb"] * 1024) for p in phases.values())
    return {
        "phases": phases,
        "seconds": seconds,
        "cpu_seconds": sum(cpu.values()),  # the command, its pool and workers
        "kswapd_seconds": kswapd,  # the whole machine's page reclaim meanwhile
        "loans_simulated": summary["loans"],
        "main_peak_mb": main_kb / 1024,
        "worker_peaks_mb": [kb / 1024 for kb in workers_kb],
        "load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def _phases(stdout: str, began: float, disk0: int) -> dict[str, dict[str, float]]:
    """The driver's phase marks as ``{phase: {seconds, main_cpu, main_peak_mb}}``: ``map``
    (from the command's start: imports, the inventory, feeding the pool while the
    workers run the batches), ``reduce`` and ``report`` (the main process alone)."""
    marks = [line.split()[1:] for line in stdout.splitlines() if line.startswith("PHASE ")]
    phases: dict[str, dict[str, float]] = {}
    name, wall, cpu, own, disk = "map", began, 0.0, 0, disk0
    for phase, t, c, hwm_kb, own_read, disk_read in marks:
        phases[name] = {
            "seconds": float(t) - wall,
            "main_cpu": float(c) - cpu,
            "main_peak_mb": int(hwm_kb) / 1024,
            "main_disk_read_mb": (int(own_read) - own) / 2**20,
            "machine_disk_read_mb": (int(disk_read) - disk) / 2**20,
        }
        name, wall, cpu, own, disk = phase, float(t), float(c), int(own_read), int(disk_read)
    return phases


def _disk_read() -> int:
    """Bytes the whole machine has read from disks (``/proc/vmstat`` pgpgin)."""
    with open("/proc/vmstat") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("pgpgin ")) * 1024


def _object_keys(data: Path) -> list[str]:
    """The portfolio's object keys, as its inventory lists them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from montemap.credit.simulate import iter_inventory_items
    from montemap.storage import local_store

    return [item["Key"] for item in iter_inventory_items(local_store(data))]


def evict(data: Path) -> dict[str, float]:
    """Drop the portfolio objects' pages from the page cache, without privileges: each
    object opened and ``POSIX_FADV_DONTNEED`` (clean pages only: ``sync`` first; 8
    threads, so the opens of uncached inodes overlap). Their inodes and dentries stay
    cached (only ``/proc/sys/vm/drop_caches``, which needs root, drops those), so a cold
    run here still finds the directory and the inodes in memory where they fit. Returns
    the seconds taken and ``fincore``'s share of a sample cached before and after."""
    from concurrent.futures import ThreadPoolExecutor

    bucket = data / "buckets" / "montemap-source"
    keys = _object_keys(data)
    sample = keys[:: max(1, len(keys) // 4000)]  # an even sample of about 4,000
    before = cached_share(bucket, sample)
    if before < 0.005:  # none of the sample cached: nothing to drop
        return {"evict_seconds": 0.0, "cached_before": before, "cached_after": before}
    start = time.perf_counter()
    # a portfolio generated a moment ago is still dirty in the cache, and DONTNEED
    # leaves dirty pages where they are: write everything back first
    os.sync()
    chunks = [keys[i : i + 4096] for i in range(0, len(keys), 4096)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda chunk: drop_pages(bucket, chunk), chunks))
    seconds = time.perf_counter() - start
    return {
        "evict_seconds": seconds,
        "cached_before": before,
        "cached_after": cached_share(bucket, sample),
    }


_REDUCE = """
import inspect, json, resource, shutil, sys, time
from pathlib import Path
from montemap.credit.params import parse_batch_input
from montemap.credit.reduce import list_batches, reduce_run
from montemap.credit.report import write_report
from montemap.storage import LocalObjectStore
root, prefix, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = LocalObjectStore(root)
ids = list_batches(store, "montemap-results", prefix)
meta = json.loads(store.get("montemap-results", f"{prefix}/batches/{ids[0]}/batch.json"))
params, _ = parse_batch_input(meta["params"])
shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
# as simulate does: the report's loan figures from the reduction where the code has them
in_memory = "report_figures" in inspect.signature(reduce_run).parameters
def kids():  # the CPU of the helper processes it forked (and waited for)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
w0, c0, t0, k0 = time.perf_counter(), time.process_time(), time.thread_time(), kids()
if in_memory:
    outputs = reduce_run(store, params, ids, out_dir=out, report_figures=True)
else:
    outputs = reduce_run(store, params, ids, out_dir=out)
w1, c1, t1, k1 = time.perf_counter(), time.process_time(), time.thread_time(), kids()
write_report(out, outputs.loan_figures) if in_memory else write_report(out)
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"batches": len(ids), "reduce_wall": w1 - w0, "reduce_cpu": c1 - c0 + k1 - k0,
    "reduce_main_thread_cpu": t1 - t0, "report_wall": w2 - w1, "report_cpu": c2 - c1,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


_LAMBDA = """
import json, resource, sys, time
w0, c0 = time.perf_counter(), time.process_time()
from montemap.workflows.functions import reduce_and_report
w1, c1 = time.perf_counter(), time.process_time()
run, params = sys.argv[1], json.loads(sys.argv[2])
keys = ("shocks_bp", "paths", "seed", "as_of", "cutoff", "estimator")
event = {"results_bucket": "montemap-results", "run_name": run,
    **{k: params[k] for k in keys if k in params}}
k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
reduce_and_report(event)
w2, c2 = time.perf_counter(), time.process_time()
k2 = resource.getrusage(resource.RUSAGE_CHILDREN)  # helper processes it forked
kids = k2.ru_utime + k2.ru_stime - k1.ru_utime - k1.ru_stime
print(json.dumps({"import_wall": w1 - w0, "import_cpu": c1 - c0, "wall": w2 - w1,
    "cpu": c2 - c1 + kids, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


_SCAN = """
import json, resource, sys, tempfile, time
from pathlib import Path
from montemap.credit.params import parse_batch_input
from montemap.credit.reduce import list_batches
from montemap.credit.reduce_scan import AccountSpill, id_array, scan_batches
from montemap.storage import LocalObjectStore
root, prefix = sys.argv[1], sys.argv[2]
store = LocalObjectStore(root)
ids = list_batches(store, "montemap-results", prefix)
meta = json.loads(store.get("montemap-results", f"{prefix}/batches/{ids[0]}/batch.json"))
params, _ = parse_batch_input(meta["params"])
with tempfile.TemporaryDirectory() as tmp:
    spill = AccountSpill(Path(tmp), len(ids))
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0, c0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
    scan_batches(store, params, id_array(ids), spill)
    w1, c1, t1 = time.perf_counter(), time.process_time(), time.thread_time()
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # a helper process it forked
    spill.close()
kids = k1.ru_utime + k1.ru_stime - k0.ru_utime - k0.ru_stime
print(json.dumps({"batches": len(ids), "wall": w1 - w0, "cpu": c1 - c0 + kids, "main": t1 - t0,
    "helper": kids}))
"""


def pass1_only(args: argparse.Namespace, prefix: str, codes: list[tuple[str, Path | None]]) -> None:
    """Time the reduction's first pass alone (``scan_batches``) on kept batch outputs."""
    print(
        "| code | batches | pass 1 wall s | pass 1 CPU s | main thread s | other threads s "
        "| helper process s | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for _ in range(args.repeat):
        for label, src in codes:
            load = os.getloadavg()[0]
            r = _child(_SCAN, [str(args.reduce_only), prefix], src, {})
            print(
                f"| {label} | {r['batches']:,} | {r['wall']:.2f} | {r['cpu']:.2f} "
                f"| {r['main']:.2f} | {r['cpu'] - r['main'] - r['helper']:.2f} "
                f"| {r['helper']:.2f} | {load:.1f}-{os.getloadavg()[0]:.1f} |",
                flush=True,
            )


def _lambda_data(buckets: Path, prefix: str, root: Path, copy: bool) -> tuple[Path, str]:
    """A data folder for the Lambda function (it writes the run's files into the store
    and the data folder): the kept batch outputs hard-linked (or, with ``copy``, copied)
    into a bucket of its own, so the kept outputs are never written to. Returns it and
    the run name."""
    run = prefix.rsplit("/", 1)[-1]
    data = root / ("lambda-data-unhashed" if copy else "lambda-data")
    source = buckets / "montemap-results" / prefix / "batches"
    target = data / "buckets" / "montemap-results" / "runs" / run / "batches"
    if not target.exists():
        staging = target.with_name("batches.partial")
        shutil.rmtree(staging, ignore_errors=True)

        def link(src: str, dst: str) -> None:
            try:
                if copy:  # a file of its own: its attributes are not the kept file's
                    raise OSError
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        shutil.copytree(source, staging, copy_function=link)
        staging.rename(target)
    return data, run


def _forget_etags(data: Path) -> int:
    """Remove the computed ETags of the batch outputs under ``data`` (never linked to
    the kept outputs: see ``_lambda_data``); how many there were."""
    removed = 0
    for folder, _, names in os.walk(data / "buckets" / "montemap-results" / "runs"):
        for name in names:
            try:
                os.removexattr(os.path.join(folder, name), ETAG_XATTR)
                removed += 1
            except OSError:
                pass
    return removed


def _child(code: str, argv: list[str], src: Path | None, extra: dict[str, str]) -> Any:
    env = child_env(src, **extra)
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def reduce_only(args: argparse.Namespace) -> None:
    """Time the reduction and the report on kept batch outputs (see the module's doc)."""
    runs = args.reduce_only / "montemap-results" / "runs"
    prefix = args.prefix or f"runs/{next(p.name for p in sorted(runs.iterdir()))}"
    codes: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.baseline_src:
        codes.insert(0, ("baseline", args.baseline_src))
    if args.pass1:
        pass1_only(args, prefix, codes)
        return
    print(
        "| code | path | batches | reduce wall s | reduce CPU s | main thread s "
        "| report (+ upload) wall s | report (+ upload) CPU s | imports CPU s | peak MB | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    out = args.root / "reduce-out"
    if args.lambda_path:
        data, run = _lambda_data(args.reduce_only, prefix, args.root, args.unhashed)
        first = next((args.reduce_only / "montemap-results" / prefix / "batches").iterdir())
        params = json.loads((first / "batch.json").read_text())["params"]
    for _ in range(args.repeat):
        for label, src in codes:
            load = os.getloadavg()[0]
            argv = [str(args.reduce_only), prefix, str(out)]
            r = _child(_REDUCE, argv, src, {})
            print(
                f"| {label} | simulate | {r['batches']:,} | {r['reduce_wall']:.1f} "
                f"| {r['reduce_cpu']:.1f} | {r['reduce_main_thread_cpu']:.1f} "
                f"| {r['report_wall']:.1f} | {r['report_cpu']:.1f} | - | {r['peak_mb']:.0f} "
                f"| {load:.1f}-{os.getloadavg()[0]:.1f} |",
                flush=True,
            )
            if not args.lambda_path:
                continue
            shutil.rmtree(data / "runs", ignore_errors=True)
            if args.unhashed:
                _forget_etags(data)
            load = os.getloadavg()[0]
            r = _child(_LAMBDA, [run, json.dumps(params)], src, {"MONTEMAP_DATA_DIR": str(data)})
            print(
                f"| {label} | Lambda | | {r['wall']:.1f} (all) | {r['cpu']:.1f} (all) | | | "
                f"| {r['import_cpu']:.1f} | {r['peak_mb']:.0f} "
                f"| {load:.1f}-{os.getloadavg()[0]:.1f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, nargs="+", default=[500_000, 5_000_000])
    parser.add_argument("--root", type=Path, default=Path("/tmp/montemap-scale"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--keep-work",
        action="store_true",
        help="keep the batch outputs in <root>/<loans>/out/.work",
    )
    parser.add_argument("--reduce-only", type=Path, help="kept batch outputs (buckets folder)")
    parser.add_argument(
        "--prefix", help="the run prefix under montemap-results (default: the first)"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="older src to alternate with (full runs: each size runs it first, then this tree)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="before each run, drop the portfolio objects' pages from the page cache "
        "(POSIX_FADV_DONTNEED per object; inodes and dentries stay cached), so every "
        "size reads its objects from the disk",
    )
    parser.add_argument(
        "--lambda",
        dest="lambda_path",
        action="store_true",
        help="with --reduce-only: also time `montemap run`'s ReduceAndReport function "
        "(reduce, upload, report) in a fresh process, on a linked copy of the outputs",
    )
    parser.add_argument(
        "--pass1",
        action="store_true",
        help="with --reduce-only: time the reduction's first pass alone (scan_batches): "
        "wall, process CPU, the main thread's and the other threads' (the prefetch)",
    )
    parser.add_argument(
        "--unhashed",
        action="store_true",
        help="with --lambda: run it on a copy whose batch outputs' ETags were never "
        "computed (as right after run's maps), removed again before each repeat",
    )
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    compile_sources(args.baseline_src)
    if args.reduce_only is not None:
        reduce_only(args)
        return
    print(
        "| loans | cache | generate s | simulate s | us per loan | map / reduce / report s "
        "| CPU us per loan (kswapd s) | disk read GB (machine) "
        "| main peak MB (map / reduce / report) | worker peaks MB | load |"
    )
    print("|---:|---|---:|---:|---:|---|---|---|---|---|---|")
    # with --baseline-src, each size runs the baseline, then this tree (the code column)
    codes: list[tuple[str, Path | None]] = [("", None)]
    if args.baseline_src:
        codes = [("baseline ", args.baseline_src), ("this tree ", None)]
    for loans in args.loans:
        root = args.root / str(loans)
        gen = generate(root, loans)
        for label, src in codes:
            cache = evict(root / "data") if args.cold else {}
            run = simulate(root, args.workers, args.paths, not args.no_report, args.keep_work, src)
            run.update(loans=loans, generate_seconds=gen, us_per_loan=run["seconds"] / loans * 1e6)
            run.update(code=label.strip() or "this tree", cold=args.cold, **cache)
            with open(args.root / "results.jsonl", "a") as f:
                f.write(json.dumps(run) + "\n")
            _row(label, loans, gen, run)


def _row(label: str, loans: int, gen: float, run: dict[str, Any]) -> None:
    """One size's row of the table (``run`` as ``results.jsonl`` has it)."""
    workers = ", ".join(f"{mb:.0f}" for mb in run["worker_peaks_mb"])
    phases = run["phases"]
    names = [n for n in ("map", "reduce", "report") if n in phases]
    times = " / ".join(f"{phases[n]['seconds']:.1f}" for n in names)
    peaks = " / ".join(f"{phases[n]['main_peak_mb']:.0f}" for n in names)
    disk = " / ".join(f"{phases[n]['machine_disk_read_mb'] / 1024:.1f}" for n in names)
    cache = "as found"
    if run.get("cold"):
        cache = f"cold ({run['cached_before']:.0%} -> {run['cached_after']:.0%} cached)"
    print(
        f"| {label}{loans:,} | {cache} | {gen:.0f} | {run['seconds']:.1f} "
        f"| {run['us_per_loan']:.1f} | {times} "
        f"| {run['cpu_seconds'] / loans * 1e6:.1f} ({run['kswapd_seconds']:.1f}) "
        f"| {disk} | {run['main_peak_mb']:.0f} ({peaks}) "
        f"| {workers} | {run['load_1min'][0]:.1f}-{run['load_1min'][1]:.1f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
