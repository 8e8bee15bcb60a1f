"""The main job against its floor: ``montemap simulate`` and ``montemap run`` on one portfolio.

Generates the portfolio once (not timed), then measures in one run:

* the **floor**: plain Python reading every loan object's bytes once (warm cache: the
  objects are read once before, untimed), plus a plain NumPy float32 one-factor copula
  over the same loans x 1,000 paths x 4 shocks (normal draws, compare, weighted sum),
  the two added and divided by the cores (2 by default), measured again right before each
  repetition's commands (``bench/_floor.py``): ``floor_seconds`` is the median,
  ``floor_seconds_each`` each one, ``ratio_run_over_floor_pairs`` the median of each
  ``run`` over its own repetition's floor (this VM's speed drifts over minutes);
* ``montemap simulate --data-dir`` (a process pool, no engine) and ``montemap run``
  (embedded server, Distributed Map, activity workers), alternating ``--repeat`` times,
  with the peak RSS (``VmHWM``) of the command's process and of every process it starts,
  sampled from ``/proc``, and the machine's busy CPU over each command (``/proc/stat``;
  ``ratio_run_over_simulate_machine_cpu``: steadier than the wall-time ratio on a shared
  machine, as long as nothing else runs), and each command's user and system CPU per role
  (``cpu_by_role``: the command's process, its workers, its function processes), and
  ``ratio_run_over_simulate_pairs``: the median of each repetition's run/simulate, which
  a machine's drift over minutes disturbs less than the ratio of the medians, and the
  machine's free memory, page cache and slab at the start (``memory_at_start_mb``),
  and each ``run``'s phases with the server's CPU in its map phase (``run_phases``, see
  ``bench/_run_phases.py``).

    .venv/bin/python bench/bench_main_job.py --loans 500000 --workers 8

``--profile N`` profiles the batch handler (cProfile, wall clock) over the first N loans;
``--parts N`` gives each part's thread CPU per loan without a profiler, and with
``--baseline-src DIR --repeat R`` the same for another source tree, alternating:

    .venv/bin/python bench/bench_main_job.py --loans 100000 --data-dir /tmp/m \
        --parts 20000 --baseline-src /tmp/base-src --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from bench._floor import PATHS, SHOCKS, Floor, floor_fields, measure_floor, pair_ratio
    from bench._pyenv import child_env, compile_sources
    from bench._run_phases import Sample, run_phases
    from bench._server import busy_seconds, cpu_times
except ImportError:  # run as a script: bench/ itself is on sys.path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench._floor import PATHS, SHOCKS, Floor, floor_fields, measure_floor, pair_ratio
    from bench._pyenv import child_env, compile_sources
    from bench._run_phases import Sample, run_phases
    from bench._server import busy_seconds, cpu_times

COMMON = ["--paths", str(PATHS), "--shocks", ",".join(map(str, SHOCKS)), "--seed", "1"]
COMMON += ["--as-of", "2026-11-27"]


# --------------------------------------------------------------------------- commands


class PeakRss:
    """Samples ``VmHWM`` (peak resident set) of a process and all its descendants, and
    their user and system CPU (``/proc/PID/stat``; the last sample of each process, so a
    process's last moments before it ends, at most one interval, are not counted)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = pid
        self.peaks: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, tuple[float, float]] = {}  # pid -> (user, system) seconds
        #: (epoch seconds, the command's process CPU, the machine's busy CPU) each sample
        self.timeline: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _children(self) -> dict[int, list[int]]:
        tree: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
        return tree

    def _sample(self) -> None:
        tree = self._children()
        todo = [self.root]
        parents: dict[int, int] = {}
        while todo:
            pid = todo.pop()
            for child in tree.get(pid, []):
                parents[child] = pid
                todo.append(child)
            try:
                with open(f"/proc/{pid}/status") as f:
                    hwm = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:"))
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, StopIteration, ValueError):
                continue
            if _WARM in cmd:  # the template and the tasks forked from it share its cmdline
                parent = self.peaks.get(parents.get(pid, -1), ("", 0))[0]
                cmd = (
                    "-m montemap.cli worker (warm)" if _WARM in parent else f"-m {_WARM} (template)"
                )
            old = self.peaks.get(pid, ("", 0))[1]
            self.peaks[pid] = (cmd, max(old, hwm))
            try:
                self.cpu[pid] = cpu_times(pid)
            except (OSError, IndexError):  # gone since
                pass
        root = self.cpu.get(self.root)
        if root is not None:
            self.timeline.append((time.time(), root[0] + root[1], busy_seconds()))

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._sample()

    def stop(self) -> dict[str, object]:
        """Peak RSS in MB of the command's process and of each process it started, the
        latter named by their module (``montemap.cli worker``, ...) and sorted."""
        self._stop.set()
        self._thread.join()
        main = self.peaks.get(self.root, ("", 0))[1]
        children = sorted(
            ((_role(cmd), round(kb / 1024)) for pid, (cmd, kb) in self.peaks.items()
             if pid != self.root and kb > 0),
            key=lambda rk: (rk[0], -rk[1]),
        )  # fmt: skip
        return {"main_mb": round(main / 1024), "children_mb": [f"{r}: {mb}" for r, mb in children]}

    def cpu_by_role(self) -> dict[str, dict[str, float | int]]:
        """User and system CPU seconds per role (the command's own process is ``main``:
        for ``run`` it holds the embedded server), with the number of processes."""
        sums: dict[str, list[float]] = {}  # role -> [user, system, processes]
        for pid, (user, system) in self.cpu.items():
            role = "main" if pid == self.root else _role(self.peaks.get(pid, ("?", 0))[0])
            got = sums.setdefault(role, [0.0, 0.0, 0])
            got[0] += user
            got[1] += system
            got[2] += 1
        return {
            role: {"user_s": round(u, 2), "system_s": round(s, 2), "processes": int(n)}
            for role, (u, s, n) in sorted(sums.items())
        }


#: The module of the ECS emulation's warm template (``montemap.ecs.warm_tasks``).
_WARM = "montemap.ecs.warm_template"


def _role(cmd: str) -> str:
    """``-m montemap.cli worker ...`` -> ``montemap.cli worker``; else the program's name."""
    words = cmd.split()
    if "-m" in words:
        i = words.index("-m")
        return " ".join(words[i + 1 : i + 4 if words[-1] in ("(warm)", "(template)") else i + 3])
    if "-c" in words and os.path.basename(words[0]).startswith("python"):
        return "python -c (pool or function process)"
    return os.path.basename(words[0]) if words else "?"


@dataclass
class Command:
    """What one :func:`montemap` command measured."""

    seconds: float  # wall time
    peaks: dict[str, object]  # peak RSS per role (:meth:`PeakRss.stop`)
    machine_cpu: float  # the machine's busy CPU seconds over the command
    cpu_by_role: dict[str, dict[str, float | int]]  # :meth:`PeakRss.cpu_by_role`
    began: float  # epoch seconds
    ended: float
    samples: list[Sample]  # :attr:`PeakRss.timeline`


def montemap(*args: str, src: str | None = None, **extra: str) -> Command:
    """Run ``montemap ARGS`` (with ``src`` first on PYTHONPATH, ``extra`` in its
    environment) and measure it."""
    env = child_env(src, **extra)
    busy = busy_seconds()
    began = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "montemap.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rss = PeakRss(proc.pid)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    machine_cpu = busy_seconds() - busy
    peaks = rss.stop()
    if proc.returncode != 0:
        raise SystemExit(f"montemap {' '.join(args)} failed:\n{out}\n{err}")
    return Command(elapsed, peaks, machine_cpu, rss.cpu_by_role(), began, time.time(), rss.timeline)


#: Parts of the batch handler and the functions whose cumulative time each is.
PARTS = {
    "reading the objects": [("credit/objects.py", "read_objects")],
    "parsing and validating": [("credit/bulk_parse.py", "parse_objects")],
    "the model without the kernel": [
        ("credit/model.py", "baseline"),
        ("credit/model.py", "scenario"),
        ("credit/model.py", "scenarios"),
        ("credit/batch.py", "payment_quality"),
        ("credit/batch.py", "matured_records"),
    ],
    "the Monte Carlo kernel": [("credit/kernel.py", "simulate")],
    "building the result table": [
        ("credit/batch.py", "_fixed_columns"),
        ("credit/batch.py", "_scenario_table"),
        ("credit/batch.py", "_permuted"),
        ("credit/batch.py", "_key_order"),
    ],
    "writing the batch's results": [("credit/batch.py", "write_batch")],
    "whole handler": [("credit/batch.py", "handle_batch")],
}


def profile_batches(data: Path, loans: int) -> dict[str, float]:
    """Microseconds per loan of each part of ``handle_batch`` over the first ``loans`` loans,
    in this process under cProfile (batches of 400, 1,000 paths, 4 shocks)."""
    import cProfile
    import pstats

    from montemap.credit.batch import handle_batch

    events, store = _events(data, loans)
    keys = [item for event in events for item in event["Items"]]
    handle_batch(events[0], None, store=store)  # warm up: imports, caches
    profiler = cProfile.Profile()
    profiler.enable()
    for event in events:
        handle_batch(event, None, store=store)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    out = {}
    for part, funcs in PARTS.items():
        seconds = sum(
            ct
            for (path, _, name), (_, _, _, ct, _) in stats.items()
            if any(path.endswith(f) and name == fn for f, fn in funcs)
        )
        out[part] = round(seconds / len(keys) * 1e6, 1)
    return out


#: What ``--parts`` times with thread CPU: (module, function or Class.method, part). Names
#: one version lacks are skipped, so the same list times older sources (--baseline-src).
TIMED = [
    ("montemap.credit.batch", "read_objects", "read"),
    ("montemap.credit.batch", "parse_objects", "parse"),
    ("montemap.credit.model", "baseline", "model"),
    ("montemap.credit.model", "scenario", "model"),
    ("montemap.credit.model", "scenarios", "model"),  # every shock at once (session 19)
    ("montemap.credit.batch", "payment_quality", "model"),
    ("montemap.credit.batch", "matured_records", "model"),
    ("montemap.credit.kernel", "NumpyBackend.simulate", "kernel"),
    *[("montemap.credit.batch", f, "table") for f in
      ("_fixed_columns", "_scenario_table", "_batch_table", "_sorted", "_permuted",
       "_key_order")],
    ("montemap.credit.batch", "write_batch", "write"),
    ("montemap.credit.batch", "process_batch", "whole"),
]  # fmt: skip


def _timed(spent: dict[str, float], part: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[part] = spent.get(part, 0.0) + time.thread_time() - started

    return wrapper


def time_parts(data: Path, loans: int) -> dict[str, float]:
    """Thread CPU per loan (us) of each part of ``handle_batch`` over the first ``loans``
    loans, in this process, no profiler; ``other`` is the handler less the parts, and
    ``process`` the process's CPU (BLAS or Arrow threads included)."""
    import importlib
    import shutil

    spent: dict[str, float] = {}
    for module_name, attr, part in TIMED:
        owner: Any = importlib.import_module(module_name)
        *outer, name = attr.split(".")
        for step in outer:
            owner = getattr(owner, step)
        if hasattr(owner, name):
            setattr(owner, name, _timed(spent, part, getattr(owner, name)))
    from montemap.credit.batch import handle_batch

    events, store = _events(data, loans)
    handle_batch(events[0], None, store=store)  # warm up: imports, caches
    shutil.rmtree(data / "buckets" / "montemap-profile", ignore_errors=True)  # new files
    spent.clear()
    started = time.process_time()
    for event in events:
        handle_batch(event, None, store=store)
    process = time.process_time() - started
    n = sum(len(e["Items"]) for e in events)
    out = {part: round(s / n * 1e6, 1) for part, s in spent.items()}
    out["other"] = round(out["whole"] - sum(v for p, v in out.items() if p != "whole"), 1)
    out["process"] = round(process / n * 1e6, 1)
    return out


def _events(data: Path, loans: int) -> tuple[list[dict[str, Any]], Any]:
    """400-loan batch events over the first ``loans`` loans, and the portfolio's store."""
    from montemap.credit.portfolio import SOURCE_BUCKET, data_key
    from montemap.storage import LocalObjectStore

    total = json.loads((data / "portfolio.json").read_text())["loans"]
    params = {
        "output_bucket": "montemap-profile", "output_prefix": "p", "paths": PATHS, "seed": 1,
        "as_of": "2026-11-27", "shocks_bp": list(SHOCKS),
    }  # fmt: skip
    keys = [data_key(i, total) for i in range(1, min(loans, total) + 1)]
    events = [
        {"Items": [{"Bucket": SOURCE_BUCKET, "Key": k} for k in keys[i : i + 400]],
         "BatchInput": params}
        for i in range(0, len(keys), 400)
    ]  # fmt: skip
    return events, LocalObjectStore(data / "buckets")


def compare_parts(data: Path, loans: int, baseline: str, repeat: int) -> dict[str, Any]:
    """``--parts`` of ``baseline`` (a source folder) and of this checkout, alternating
    ``repeat`` times in fresh processes; each part's smallest figure."""
    here = str(Path(__file__).resolve().parents[1] / "src")
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    for _ in range(repeat):
        for label, src in (("baseline", baseline), ("this", here)):
            env = child_env(src)
            cmd = [sys.executable, __file__, "--data-dir", str(data.parent), "--loans"]
            cmd += [str(json.loads((data / "portfolio.json").read_text())["loans"])]
            cmd += ["--parts", str(loans)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[label].append(json.loads(out.stdout)["us_per_loan"])
    return {label: {p: min(r[p] for r in rs) for p in rs[0]} for label, rs in runs.items()} | {
        "load_average": [round(x, 1) for x in os.getloadavg()]
    }


def generate(data: Path, loans: int) -> None:
    marker = data / "portfolio.json"
    if marker.exists() and json.loads(marker.read_text()).get("loans") == loans:
        return
    print(f"generating {loans:,} loans (not timed) ...", file=sys.stderr)
    montemap(
        "generate", "--loans", str(loans), "--seed", "1", "--as-of", "2026-11-27",
        "--data-dir", str(data), "--quiet", "--force",
    )  # fmt: skip
    marker.write_text(json.dumps({"loans": loans, "layout": "realistic", "seed": 1}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--loans", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2, help="cores the floor is divided by")
    parser.add_argument("--task-definition", default="small")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--data-dir", help="reuse a data dir (default: a temporary one)")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="LOANS",
        help="only profile the batch handler in this process over the first LOANS loans",
    )
    parser.add_argument(
        "--parts",
        type=int,
        metavar="LOANS",
        help="thread CPU per loan of each part of the batch handler (no profiler)",
    )
    parser.add_argument(
        "--baseline-src",
        help="also time this source folder (an older src), alternating --repeat times: "
        "with --parts the handler's parts, else simulate and run",
    )
    args = parser.parse_args()

    data = Path(args.data_dir or tempfile.mkdtemp(prefix="montemap-main-")) / "montemap-data"
    generate(data, args.loans)
    if args.profile:
        print(json.dumps({"us_per_loan": profile_batches(data, args.profile)}, indent=1))
        return
    if args.parts and args.baseline_src:
        print(json.dumps(compare_parts(data, args.parts, args.baseline_src, args.repeat), indent=1))
        return
    if args.parts:
        print(json.dumps({"us_per_loan": time_parts(data, args.parts)}, indent=1))
        return
    compile_sources(args.baseline_src)
    for i in range(args.repeat):  # an interrupted bench's outputs (`simulate` refuses them)
        for tag in ("", "baseline_"):
            shutil.rmtree(data.parent / f"simulate-{tag}{i}", ignore_errors=True)
    load = os.getloadavg()
    memory = memory_state()
    floors: list[Floor] = []  # one a repetition, right before its commands
    sources: dict[str, str | None] = {"": None}
    if args.baseline_src:  # its own data dir (database), the same source bucket
        sources = {"baseline_": args.baseline_src, "": None}
        baseline_data(data)
    timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}  # the machine's busy CPU over each command
    roles: dict[str, list[dict[str, dict[str, float | int]]]] = {}  # CPU per role, each command
    rss: dict[str, dict[str, object]] = {}
    records: dict[str, dict[str, Any]] = {}
    phases: dict[str, list[dict[str, Any]]] = {}  # each run's phases (bench/_run_phases.py)
    leftovers: list[Path] = []  # outputs removed once every command is timed
    for i in range(args.repeat):
        floors.append(measure_floor(data / "buckets" / "montemap-source" / "data", args.cores))
        for tag, src in sources.items():
            where = data if src is None else data.parent / "baseline" / "montemap-data"
            out = data.parent / f"simulate-{tag}{i}"
            simulated = montemap(
                "simulate", "--data-dir", str(where), "--out", str(out),
                "--workers", str(args.workers), *COMMON, src=src,
                MONTEMAP_KEEP_WORK="1",  # its batch outputs stay, as `run`'s do (below)
            )  # fmt: skip
            leftovers.append(out)
            name = f"bench-{tag}{i}-{int(time.time())}"
            ran = montemap(
                "run", "--data-dir", str(where), "--loans", str(args.loans),
                "--workers", str(args.workers), "--task-definition", args.task_definition,
                "--name", name, "--quiet", *COMMON, src=src,
            )  # fmt: skip
            for what, done in (("simulate", simulated), ("run", ran)):
                rss[f"{tag}{what}"] = done.peaks
                timings.setdefault(f"{tag}{what}", []).append(done.seconds)
                cpu.setdefault(f"{tag}{what}", []).append(done.machine_cpu)
                roles.setdefault(f"{tag}{what}", []).append(done.cpu_by_role)
            records[tag] = json.loads((where / "runs" / name / "run.json").read_text())
            phases.setdefault(f"{tag}run", []).append(
                run_phases(
                    where / "montemap.db", name, ran.samples, began=ran.began, ended=ran.ended
                )
            )
            # the run's batch outputs (~3 KB a loan): not needed once it is timed
            leftovers.append(where / "buckets" / "montemap-results" / "runs" / name)
    # Removed only now, and `simulate` keeps its work folder (MONTEMAP_KEEP_WORK): on ext4
    # without a journal (this VM's disk) a file created within a minute of a deletion in
    # its block group makes the allocator step over every recently deleted inode
    # (`recently_deleted`): 5,000 files cost 1.9-3.1 s of CPU right after 5,000 were
    # removed, 0.19 s otherwise, and ~7% of the machine's CPU in `simulate`'s map phase
    # when the outputs before it had just been removed (docs/benchmarks.md, session 27).
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    run_s, simulate_s = timings["run"], timings["simulate"]
    each_floor = [f.seconds for f in floors]
    floor = statistics.median(each_floor)
    record = records[""]
    run, simulate = statistics.median(run_s), statistics.median(simulate_s)
    result = {
        "loans": args.loans,
        "objects": floors[0].objects,
        "workers": args.workers,
        "task_definition": args.task_definition,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 1) for x in load],
        # this VM's cost of touching memory moves with it (docs/benchmarks.md, session 25)
        "memory_at_start_mb": memory,
        **floor_fields(floors),
        "simulate_seconds": [round(s, 1) for s in simulate_s],
        "run_seconds": [round(s, 1) for s in run_s],
        "ratio_run_over_floor": round(run / floor, 2),
        # each run over the floor measured right before its repetition, then the median
        "ratio_run_over_floor_pairs": pair_ratio(run_s, each_floor),
        "ratio_run_over_simulate": round(run / simulate, 3),
        # each run over the simulate just before it, then the median: a machine whose
        # speed drifts over minutes moves both sides of a pair alike
        "ratio_run_over_simulate_pairs": pair_ratio(run_s, simulate_s),
        # steadier than wall time on a shared machine: all the CPU each command used
        "simulate_machine_cpu_seconds": [round(s, 1) for s in cpu["simulate"]],
        "run_machine_cpu_seconds": [round(s, 1) for s in cpu["run"]],
        "ratio_run_over_simulate_machine_cpu": round(
            statistics.median(cpu["run"]) / statistics.median(cpu["simulate"]), 3
        ),
        # where each command's CPU went, per repeat: the command's process ("main": in
        # run, the embedded server and the command), its workers and function processes
        "cpu_by_role": {"simulate": roles["simulate"], "run": roles["run"]},
        # each run's phases and the server's CPU in its map phase (bench/_run_phases.py)
        "run_phases": phases["run"],
        "peak_rss_mb": rss,
        "run_execution_seconds": record["duration_seconds"],
        "run_vcpu_seconds": record["cost"]["vcpu_seconds"],
        "run_server_process_cpu_seconds": record.get("server_process_cpu_seconds"),
    }
    if args.baseline_src:
        before_run = statistics.median(timings["baseline_run"])
        before_simulate = statistics.median(timings["baseline_simulate"])
        result["baseline"] = {
            "src": args.baseline_src,
            "simulate_seconds": [round(s, 1) for s in timings["baseline_simulate"]],
            "run_seconds": [round(s, 1) for s in timings["baseline_run"]],
            "ratio_run_over_floor": round(before_run / floor, 2),
            "ratio_run_over_floor_pairs": pair_ratio(timings["baseline_run"], each_floor),
            "ratio_run_over_simulate": round(before_run / before_simulate, 3),
            "ratio_run_over_simulate_pairs": pair_ratio(
                timings["baseline_run"], timings["baseline_simulate"]
            ),
            "simulate_machine_cpu_seconds": [round(s, 1) for s in cpu["baseline_simulate"]],
            "run_machine_cpu_seconds": [round(s, 1) for s in cpu["baseline_run"]],
            "ratio_run_over_simulate_machine_cpu": round(
                statistics.median(cpu["baseline_run"])
                / statistics.median(cpu["baseline_simulate"]),
                3,
            ),
            "run_server_process_cpu_seconds": records["baseline_"].get(
                "server_process_cpu_seconds"
            ),
            "run_phases": phases["baseline_run"],
        }
    print(json.dumps(result, indent=1))


def memory_state(meminfo: str = "/proc/meminfo") -> dict[str, int]:
    """Free memory, page cache and kernel slab (inodes, dentries) in MB, from ``meminfo``
    (empty where it cannot be read)."""
    wanted = {"MemFree": "free", "Cached": "page_cache", "Slab": "slab"}
    found: dict[str, int] = {}
    try:
        with open(meminfo) as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in wanted:
                    found[wanted[name]] = int(rest.split()[0]) // 1024
    except (OSError, ValueError, IndexError):
        return {}
    return found


def baseline_data(data: Path) -> None:
    """A data dir beside ``data`` for the baseline's runs: its own database (the two
    versions' schemas may differ), ``data``'s portfolio through a symbolic link."""
    other = data.parent / "baseline" / "montemap-data"
    (other / "buckets").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data / "portfolio.json", other / "portfolio.json")
    link = other / "buckets" / "montemap-source"
    if not link.exists():
        link.symlink_to((data / "buckets" / "montemap-source").resolve())


if __name__ == "__main__":
    main()
