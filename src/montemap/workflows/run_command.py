"""``montemap run``: the main job, end to end, on one machine.

Uses the portfolio the data directory holds (imported or generated, as its
``portfolio.json`` records) and generates one only into an empty directory,
starts an embedded server (or uses ``--server``), registers the shipped workflows, points the worker service
at the chosen task definition, runs data processing with a live progress line,
and prints the results and what the run would cost on Fargate Spot. Everything
after the portfolio goes through the public APIs with boto3, so the same steps
work against any montemap server.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import datetime as dt
import gc
import json
import logging
import math
import os
import re
import resource
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from montemap import option_types
from montemap.credit import page_cache, run_options
from montemap.credit.provenance import ProvenanceError, read_provenance
from montemap.credit.shock_list import ShockListError, parse_shock_list
from montemap.datadir_lock import DataDirLock
from montemap.errors import MontemapError
from montemap.storage.data_dirs import refuse_foreign_directory
from montemap.workflows import bindings, pricing, signing
from montemap.workflows.client import Clients, RunSpec, WorkersCrashing, WorkflowClient
from montemap.workflows.data_dir_default import DATA_DIR_HELP, default_data_dir
from montemap.workflows.prestart import FUNCTION_MODULES, start_function_forkserver
from montemap.workflows.progress import Progress
from montemap.workflows.run_results import print_result

DEFAULT_LOANS = 500_000
TASK_DEFINITIONS = {"small": (256, 512), "large": (512, 1024)}
#: The largest ``--workers``: ECS's "Tasks per service" quota (``montemap.ecs.limits``).
MAX_WORKERS = 5_000
#: An execution name the reduction accepts as a run folder's name
#: (``montemap.workflows.functions``).
#: Signals that stop the execution and scale the workers in before ``run`` exits (with
#: 128 + the signal's number): Ctrl-C, ``kill``/``timeout``/``docker stop``, a closed
#: terminal. Without it the execution stayed RUNNING, and the next run's server resumed it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How long a stopped run waits for its embedded server's worker tasks to end before
#: stopping the server (which kills what is left): the server's stop grace, as ECS's.
WORKER_STOP_GRACE_S = 30.0
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


class RunError(MontemapError):
    """``montemap run`` cannot go on; says why."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the main job: generate if needed, simulate on workers, report",
        description="The main job, end to end, on one machine: use the portfolio the data "
        "directory holds (or generate one into an empty directory), start a server (or use "
        "--server), run the data-processing workflow on worker tasks, print the results and "
        "their Fargate Spot cost, and write the run's outputs under DIR/runs/NAME.",
    )
    p.add_argument("--data-dir", metavar="DIR", default=default_data_dir(), help=DATA_DIR_HELP)
    p.add_argument(
        "--loans",
        type=option_types.integer,
        metavar="N",
        help=f"loans to generate into an empty data directory (default {DEFAULT_LOANS:,}); "
        "with a portfolio there, must match it",
    )
    p.add_argument(
        "--layout",
        choices=["realistic", "seed"],
        help="layout to generate (default realistic); with a portfolio there, must match it",
    )
    p.add_argument(
        "--portfolio-seed",
        type=option_types.integer,
        metavar="SEED",
        help="seed to generate the portfolio with (default: --seed); "
        "with a portfolio there, must match it",
    )
    p.add_argument(
        "--workers",
        type=option_types.integer,
        metavar="N",
        default=0,
        help="worker tasks (default: enough to fill this machine's cores)",
    )
    p.add_argument(
        "--task-definition",
        choices=sorted(TASK_DEFINITIONS),
        default="small",
        help="worker size: small (0.25 vCPU, 0.5 GB, default) or large (0.5 vCPU, 1 GB)",
    )
    run_options.add_shocks_and_paths(p)
    run_options.add_seed_date_and_batch(p)
    p.add_argument(
        "--partitions",
        type=option_types.integer,
        metavar="N",
        default=2,
        help="inventory partitions (default 2)",
    )
    p.add_argument(
        "--sample-every",
        type=option_types.integer,
        metavar="N",
        default=1,
        help="keep 1 loan in N (default 1)",
    )
    p.add_argument("--name", help="execution name (default: run-<timestamp>)")
    p.add_argument("--server", metavar="URL", help="use a running montemap server")
    p.add_argument("--no-cgroups", action="store_true", help="embedded server: no CPU limits")
    _price_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--estimator",
        choices=["is", "plain"],
        default="is",
        help="tail estimator: is (importance sampling, default) or plain (for checking)",
    )
    p.set_defaults(func=run)


def _price_options(p: argparse.ArgumentParser) -> None:
    """The prices ``run`` estimates its cost with."""
    p.add_argument(
        "--price-vcpu-hour",
        type=option_types.ranged_number,
        metavar="USD",
        default=pricing.SPOT_VCPU_HOUR,
        help="Fargate Spot price of a vCPU-hour (default %(default)s)",
    )
    p.add_argument(
        "--price-gb-hour",
        type=option_types.ranged_number,
        metavar="USD",
        default=pricing.SPOT_GB_HOUR,
        help="Fargate Spot price of a GB-hour (default %(default)s)",
    )


def _check(args: argparse.Namespace) -> RunSpec:
    problems = _option_problems(args)
    try:
        shocks = list(parse_shock_list("--shocks", args.shocks))
    except ShockListError as exc:
        problems.append(str(exc))
        shocks = []
    as_of = args.as_of or dt.datetime.now(dt.UTC).date().isoformat()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", as_of):  # ``\d``: any script's digits
        problems.append(f"--as-of {as_of!r} is not a date YYYY-MM-DD (ASCII digits 0-9)")
    else:
        try:
            dt.date.fromisoformat(as_of)
        except ValueError:
            problems.append(f"--as-of {as_of!r} is not a valid date")
    if problems:
        raise RunError("; ".join(problems))
    cpu_units, memory = TASK_DEFINITIONS[args.task_definition]
    workers = args.workers or max(1, math.ceil((os.cpu_count() or 1) * 1024 / cpu_units))
    name = args.name or "run-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return RunSpec(
        name=name,
        loans=args.loans or DEFAULT_LOANS,
        layout=args.layout or "realistic",
        workers=workers,
        task_definition=args.task_definition,
        cpu_units=cpu_units,
        memory_mib=memory,
        shocks_bp=shocks,
        paths=args.paths,
        seed=args.seed,
        as_of=as_of,
        batch_size=args.batch_size,
        partitions=args.partitions,
        sample_every=args.sample_every,
        estimator=args.estimator,
    )


def _option_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with ``run``'s numeric and name options, checked before anything
    starts: a value the workers would refuse fails each batch only after its retries
    (minutes), and leaves the execution running for the next run to resume."""
    problems = []
    if args.loans is not None and args.loans < 1:
        problems.append("--loans must be at least 1")
    if not 0 <= args.workers <= MAX_WORKERS:
        problems.append(f"--workers must be from 0 to {MAX_WORKERS:,} (0: fill the cores)")
    if not 1 <= args.paths <= 10_000_000:
        problems.append("--paths must be between 1 and 10,000,000")
    if not 1 <= args.batch_size <= 10_000:
        problems.append("--batch-size must be between 1 and 10,000")
    if args.partitions < 1 or args.sample_every < 1:
        problems.append("--partitions and --sample-every must be at least 1")
    for option, seed in (("--seed", args.seed), ("--portfolio-seed", args.portfolio_seed)):
        if seed is not None and not 0 <= seed < 1 << 64:
            problems.append(f"{option} must be from 0 to 2**64-1, got {seed}")
    for option, price in (
        ("--price-vcpu-hour", args.price_vcpu_hour),
        ("--price-gb-hour", args.price_gb_hour),
    ):
        if not (math.isfinite(price) and price >= 0):
            problems.append(f"{option} must be a price of at least 0 (USD per hour), got {price}")
    if args.server is not None and not signing.is_server_url(args.server):
        problems.append(
            f"--server {args.server!r} must be the server's http:// or https:// URL, "
            "e.g. http://127.0.0.1:8083"
        )
    if args.name is not None and not RUN_NAME.fullmatch(args.name):
        problems.append(
            f"--name {args.name!r} must be 1-80 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return problems


def ensure_portfolio(
    data_dir: Path, args: argparse.Namespace, spec: RunSpec, *, quiet: bool
) -> RunSpec:
    """Use the portfolio ``data_dir`` holds; generate one only into an empty directory.

    Returns ``spec`` with the portfolio's loan count and layout. Raises
    :class:`RunError` (one line) where ``--loans``, ``--layout`` or
    ``--portfolio-seed`` contradict the portfolio there, or where the source
    bucket holds objects but no inventory.
    """
    source = data_dir / "buckets" / bindings.SOURCE_BUCKET
    manifest = source / "inventory" / "manifest.json"
    have = read_portfolio_record(data_dir)
    if manifest.exists():
        return _use_existing(data_dir, args, spec, have or {}, quiet=quiet)
    # Only generating needs the credit workload (its import alone is ~0.45 s of CPU).
    from montemap.credit.gen_commands import write_provenance
    from montemap.credit.generator import generate
    from montemap.credit.portfolio import local_destination

    if source.exists() and any(source.iterdir()):
        raise RunError(
            f"{source} holds objects but no inventory (inventory/manifest.json); "
            "refusing to generate over them: re-run 'montemap generate' or 'montemap import' "
            "with --force, or use another --data-dir"
        )
    seed = spec.seed if args.portfolio_seed is None else args.portfolio_seed
    started = time.monotonic()
    if not quiet:
        print(f"generating {spec.loans:,} loans ({spec.layout}) in {data_dir} ...", flush=True)
    result = generate(
        local_destination(data_dir),
        spec.loans,
        layout=spec.layout,  # type: ignore[arg-type]
        seed=seed,
        as_of=dt.date.fromisoformat(spec.as_of),
        replace=False,
    )
    write_provenance(
        data_dir,
        "generated",
        result,
        layout=spec.layout,
        seed=seed,
        as_of=spec.as_of,
        seconds=round(time.monotonic() - started, 1),
    )
    return spec


def read_portfolio_record(data_dir: Path) -> dict[str, Any] | None:
    """What ``data_dir/portfolio.json`` records (``None`` without one); one line if broken."""
    try:
        return read_provenance(data_dir)
    except ProvenanceError as exc:
        raise RunError(str(exc)) from None


def _use_existing(
    data_dir: Path, args: argparse.Namespace, spec: RunSpec, have: dict[str, Any], *, quiet: bool
) -> RunSpec:
    origin = str(have.get("origin", "existing"))
    loans = have.get("loans")
    what = f"{data_dir} holds {origin} portfolio"
    if isinstance(loans, int):
        what = f"{data_dir} holds {origin} portfolio of {loans:,} loans"
    wanted = {"--loans": (args.loans, "loans"), "--layout": (args.layout, "layout")}
    wanted["--portfolio-seed"] = (args.portfolio_seed, "seed")
    for option, (given, key) in wanted.items():
        if given is None:
            continue
        recorded = have.get(key)
        if recorded != given:
            shown = "none" if recorded is None else recorded
            raise RunError(
                f"{what} ({key} {shown}): {option} {given} contradicts it; drop {option} "
                "to simulate that portfolio, or use another --data-dir"
            )
    if not quiet:
        print(f"using the {origin} portfolio in {data_dir}", flush=True)
    changes: dict[str, Any] = {}
    if isinstance(loans, int):
        changes["loans"] = loans
    if isinstance(have.get("layout"), str):
        changes["layout"] = have["layout"]
    return dataclasses.replace(spec, **changes)


def run(args: argparse.Namespace) -> int:
    spec = _check(args)
    try:  # the workers take this environment, and would refuse every batch (after retries)
        page_cache.drop_requested()
    except ValueError as exc:
        raise RunError(str(exc)) from None
    # The process ends when this command returns: its last collection is not needed.
    atexit.unregister(_skip_final_collection)
    atexit.register(_skip_final_collection)
    data_dir = Path(args.data_dir).expanduser().resolve()  # as generate does
    if data_dir.exists() and not data_dir.is_dir():
        raise RunError(f"--data-dir {str(data_dir)!r} is not a directory")
    refuse_foreign_directory(data_dir)
    _refuse_earlier_outputs(data_dir, spec.name)
    if args.server is None:
        # First the functions' process, whose imports then run on the other core while
        # this one imports and starts the server (montemap.workflows.prestart); then the
        # embedded server's and its workers' settings, refused before anything is made.
        start_function_forkserver()
        from montemap.environment import check_environment

        check_environment()
    data_dir.mkdir(parents=True, exist_ok=True)
    from montemap.credit.portfolio_lock import reading_portfolio  # standard library only
    from montemap.credit.stop_signals import Stopped, stoppable, stopped_exit_status

    if args.server is not None:  # the server's portfolio: locked where it is --data-dir's
        with reading_portfolio(data_dir), _answers_of(args.server):
            return _run(args, spec, data_dir, None)
    # The data directory's lock before its portfolio: two runs started together on an
    # empty directory must not both generate into it. The embedded server keeps it.
    lock = DataDirLock(data_dir)
    try:
        try:  # SIGTERM/SIGHUP stop a generation as Ctrl-C does: its objects removed
            with stoppable():
                spec = ensure_portfolio(data_dir, args, spec, quiet=args.quiet)
        except Stopped as stopped:
            return stopped_exit_status(stopped)
        # its workers read the portfolio: no generate/import replaces it meanwhile
        with reading_portfolio(data_dir), workers_drop_object_pages(spec.loans):
            return _run(args, spec, data_dir, lock)
    finally:
        lock.release()


def _refuse_earlier_outputs(data_dir: Path, name: str) -> None:
    """A run named like one whose outputs are still there would write over them (and mix
    its batches with theirs), even where the server no longer knows that execution (its
    ``montemap.db`` removed, another ``--server``): refused in one line."""
    for folder in (
        data_dir / "runs" / name,
        data_dir / "buckets" / bindings.RESULTS_BUCKET / "runs" / name,
    ):
        try:
            occupied = folder.is_dir() and any(folder.iterdir())
        except OSError as exc:
            raise RunError(f"cannot read {folder}: {exc.strerror or exc}") from None
        if occupied or (folder.exists() and not folder.is_dir()):
            raise RunError(
                f"{folder} already holds the outputs of a run named {name!r}: choose another "
                "--name (or leave --name out), or move that folder away"
            )


@contextmanager
def workers_drop_object_pages(loans: int) -> Iterator[None]:
    """While the embedded server runs: for a portfolio too large to stay in the page cache,
    its workers drop each loan object's pages once read (``credit/page_cache.py``), as
    ``montemap simulate``'s do; a value the user set stays."""
    if page_cache.VARIABLE in os.environ or not page_cache.too_large_to_cache(loans):
        yield
        return
    os.environ[page_cache.VARIABLE] = "1"  # the worker tasks take the server's environment
    try:
        yield
    finally:
        os.environ.pop(page_cache.VARIABLE, None)


def _run(args: argparse.Namespace, spec: RunSpec, data_dir: Path, lock: DataDirLock | None) -> int:
    """The run itself: with an embedded server where ``lock`` (its directory's) is held."""
    embedded = None
    if args.server is None:
        from montemap.workflows.embedded import EmbeddedServer

        # The server's and the worker service's logs go to a file, not the terminal.
        (data_dir / "logs").mkdir(exist_ok=True)
        logging.basicConfig(
            filename=data_dir / "logs" / "server.log",
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )

        embedded = EmbeddedServer(
            data_dir,
            cgroups=not args.no_cgroups,
            warm_functions=FUNCTION_MODULES,
            data_dir_lock=lock,
        )
    url = args.server if embedded is None else embedded.url
    stop_signals = _StopSignals()
    try:  # from here on, a stop signal (or any error) stops the embedded server
        if embedded is not None:
            embedded.start()
        client = WorkflowClient(Clients.for_endpoint(url, own_server=embedded is not None))
        _install(client, url)
        _stop_leftovers(client, url, embedded=embedded is not None)
        client.use_task_definition(spec.task_definition)
        started = time.time()
        cpu_before = _cpu_seconds()
        # Known before the start is answered: a stop signal while StartExecution is in
        # flight, or just after, stops the execution too (not left RUNNING for the next
        # run's server to resume).
        arn = client.execution_arn(spec)
        progress = Progress(spec, quiet=args.quiet)
        try:
            arn = client.start(spec)
            watching = embedded.history_signal(arn) if embedded is not None else nullcontext(None)
            with watching as wake:
                described = client.wait(arn, progress, wake=wake, crashes_since=started)
        except KeyboardInterrupt:
            with suppress(OSError):  # stderr's reader may have gone
                print("\nstopping the execution and scaling the workers in ...", file=sys.stderr)
            # The embedded server's tasks report to it as they stop: seconds, not its 30 s
            # stop grace, as when it stopped first and they retried their reports till killed.
            tasks = client.worker_tasks() if embedded is not None else []
            client.stop(arn)
            client.drain(tasks, timeout=WORKER_STOP_GRACE_S)
            return 128 + (stop_signals.received or signal.SIGINT)
        except WorkersCrashing as crashing:
            client.stop(arn)
            logs = data_dir / "logs" if embedded is not None else None
            raise RunError(f"stopped {spec.name}: {crashing.loop.message(logs)}") from None
        finally:
            progress.close()
        outcome = client.outcome(arn, described, spec, started=started)
        cost = pricing.estimate(
            outcome.usage, vcpu_hour=args.price_vcpu_hour, gb_hour=args.price_gb_hour
        )
        record = outcome.record(spec, cost, url=url)
        # CPU of this process during the execution: with an embedded server, the
        # engine, the APIs and the progress display (not the workers or functions).
        record["server_process_cpu_seconds"] = round(_cpu_seconds() - cpu_before, 2)
        if embedded is not None:
            embedded.stop_soon()  # it shuts down while the results are written
        run_dir = data_dir / "runs" / spec.name
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps(record, indent=1) + "\n")
        print_result(record, run_dir)
        return 0 if described["status"] == "SUCCEEDED" else 1
    finally:
        stop_signals.restore()
        if embedded is not None:
            embedded.stop()


class _StopSignals:
    """Installed, the first stop signal raises KeyboardInterrupt and is kept (``received``);
    later ones are ignored, so that they cannot cut short the stop they asked for
    (``timeout`` sends SIGTERM twice: to the process, then to its process group)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self.previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            raise KeyboardInterrupt

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _stop_leftovers(client: WorkflowClient, url: str, *, embedded: bool) -> None:
    """Data-processing executions already running share the one worker service with this
    run, and each scales it in when its map ends, under this run's batches. With the
    embedded server (the data directory's lock held: no other run is alive) they were left
    by a run that was killed (SIGKILL, out of memory, a lost machine) and the server has
    just resumed them: they are stopped, in one line. A ``--server`` may be driving another
    run: refused in one line."""
    arns = client.running()
    if not arns:
        return
    names = ", ".join(arn.rsplit(":", 1)[-1] for arn in arns)
    if not embedded:
        raise RunError(
            f"the server at {url} is running {names} of the data-processing workflow, which "
            "shares its worker service: wait for it to end, or stop it "
            "(aws stepfunctions stop-execution)"
        )
    for arn in arns:
        client.stop(arn, cause="left running by a montemap run that did not end")
    with suppress(OSError):  # stderr's reader may have gone
        print(f"stopped {names}: left running by an earlier run that was killed", file=sys.stderr)


def _install(client: WorkflowClient, url: str) -> None:
    """Install the workflows; a server that cannot be reached is one line, not a crash."""
    from botocore.exceptions import EndpointConnectionError

    try:
        client.install()
    except EndpointConnectionError as exc:
        raise RunError(f"cannot reach the montemap server at {url}: {exc}") from None


@contextmanager
def _answers_of(url: str) -> Iterator[None]:
    """A ``--server`` that answers what montemap does not expect (another kind of HTTP
    server, one that refuses these credentials, one gone mid-run): one line naming the
    server and the call, not a bug report."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        message = str(error.get("Message") or "").strip()
        if message.startswith("<") or not message:
            message = "not a Step Functions answer: is this a montemap server?"
        code = error.get("Code") or "?"
        hint = signing.refusal(code)
        raise RunError(
            f"the server at {url} refused {exc.operation_name} (HTTP {status}, {code}): "
            + (hint or message.splitlines()[0][:300])
        ) from None
    except BotoCoreError as exc:
        raise RunError(f"lost the montemap server at {url}: {exc}") from None


def _skip_final_collection() -> None:
    """At exit (after the handlers registered later, before those registered earlier:
    multiprocessing's and logging's, which close what they hold explicitly), move every
    object out of the collector's reach. The interpreter's finalization would otherwise
    walk them all in its collections, about 0.2 s of CPU after the embedded server and
    its clients, for objects the process's end frees anyway; objects freed by their
    reference counts still are."""
    gc.freeze()


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime
