"""``montemap simulate``: the credit stress test on one machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from montemap import option_types
from montemap.credit import run_options
from montemap.credit.gen_commands import user_path
from montemap.credit.params import (
    MAX_PATHS,
    BatchInputError,
    RunParams,
    parse_as_of,
    parse_shock_list,
)
from montemap.credit.sampling import DEFAULT_ESTIMATOR, ESTIMATORS
from montemap.credit.simulate import SimulateError
from montemap.credit.simulate_run import parse_target_se, simulate

#: The largest ``--batch-size``: ``run``'s (a Distributed Map batch of the workflow).
MAX_BATCH_SIZE = run_options.MAX_BATCH_SIZE
#: The most ``--workers``: each is a process of its own, started as batches are
#: submitted (a mistyped 100000 would start one per batch, up to the machine's limits).
MAX_WORKERS = 1_024


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``simulate``."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate a loan portfolio under rate shocks",
        description="Run the credit model and the Monte Carlo on a generated portfolio "
        "(--data-dir) or a loan tape (--loans), writing summary.json, loans.parquet, "
        "rejects.csv and report.html into --out.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--loans", metavar="TAPE", type=user_path, help="loan tape: CSV or Parquet")
    src.add_argument(
        "--data-dir", metavar="DIR", type=user_path, help="data directory of a generated portfolio"
    )
    p.add_argument("--out", metavar="DIR", type=user_path, required=True, help="output folder")
    run_options.add_shocks_and_paths(p)
    run_options.add_seed_date_and_batch(p)
    p.add_argument(
        "--workers",
        type=option_types.integer,
        metavar="N",
        default=os.cpu_count() or 1,
        help="worker processes (default: CPUs)",
    )
    p.add_argument(
        "--cutoff",
        type=option_types.ranged_number,
        default=0.5,
        help="WillDefault cut-off (default 0.5)",
    )
    p.add_argument(
        "--kappa",
        type=option_types.ranged_number,
        default=0.15,
        help="macro shift per point of shock (default 0.15)",
    )
    p.add_argument("--backend", default="numpy", help="kernel backend (default numpy)")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument(
        "--estimator",
        choices=list(ESTIMATORS),
        default=DEFAULT_ESTIMATOR,
        help="tail estimator: is (importance sampling, default) or plain (for checking)",
    )
    p.add_argument(
        "--target-se",
        metavar="PCT",
        type=_target_se_text,
        help="choose the paths for this relative standard error of VaR 99.9%% (e.g. 1%%): "
        "a pilot run of --paths paths, then one scaled by (SE / target)^2",
    )
    p.add_argument(
        "--strict", action="store_true", help="fail on any rejected record instead of listing it"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write over the outputs of an earlier run in --out (default: refuse)",
    )
    p.set_defaults(func=run)


def _target_se_text(text: str) -> str:
    """``--target-se`` as written, once it is a number in ASCII digits with an optional
    ``%`` (:func:`parse_target_se` reads it and checks its range)."""
    if not option_types.is_number_text(text.removesuffix("%")):
        raise argparse.ArgumentTypeError(
            f"{option_types.shown(text)} is not a percentage such as 1% or 0.5% "
            "(or a fraction such as 0.01)"
        )
    return text


def params_from_args(args: argparse.Namespace) -> RunParams:
    """Validated run parameters from the command line."""
    try:
        kwargs: dict[str, Any] = {"shocks_bp": parse_shock_list("--shocks", str(args.shocks))}
        if args.as_of:
            kwargs["as_of"] = parse_as_of("--as-of", args.as_of)
    except BatchInputError as exc:
        raise SimulateError(exc.cause or str(exc))
    if not 1 <= args.paths <= MAX_PATHS:
        raise SimulateError(f"--paths must be from 1 to {MAX_PATHS:,}, got {args.paths}")
    if not 0 <= args.seed < 1 << 64:
        raise SimulateError(f"--seed must be from 0 to 2**64-1, got {args.seed}")
    if not 0 < args.cutoff <= 1:
        raise SimulateError(f"--cutoff must be in (0, 1], got {args.cutoff}")
    if not 0 <= args.kappa <= 10:
        raise SimulateError(f"--kappa must be in [0, 10], got {args.kappa}")
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise SimulateError(
            f"--batch-size must be from 1 to {MAX_BATCH_SIZE:,} (as for run), got {args.batch_size}"
        )
    if not 1 <= args.workers <= MAX_WORKERS:
        raise SimulateError(
            f"--workers must be from 1 to {MAX_WORKERS:,} (processes), got {args.workers}"
        )
    parse_target_se(getattr(args, "target_se", None))  # refused before any work
    from montemap.credit.kernel import available_backends

    if args.backend not in available_backends():
        raise SimulateError(
            f"--backend {args.backend!r} is unknown (available: {', '.join(available_backends())})"
        )
    return RunParams(
        paths=args.paths,
        seed=args.seed,
        cutoff=args.cutoff,
        kappa=args.kappa,
        backend=args.backend,
        estimator=getattr(args, "estimator", DEFAULT_ESTIMATOR),
        **kwargs,
    )


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    if not args.force:
        refuse_earlier_outputs(args.out)
    return simulate(args, params)


def refuse_earlier_outputs(out: Path) -> None:
    """An ``--out`` that holds a run's outputs is refused (one line) unless ``--force``:
    the run would write over them."""
    from montemap.credit.reduce_files import RUN_FILES

    found = [name for name in (*RUN_FILES, "report.html") if (out / name).exists()]
    if found:
        raise SimulateError(
            f"--out {str(out)!r} already holds a run's outputs ({', '.join(found)}): "
            "give another --out, or --force to write over them"
        )
