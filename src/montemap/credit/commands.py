"""``montemap simulate``: the credit stress test on one machine."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from montemap.credit.params import (
    DEFAULT_PATHS,
    DEFAULT_SHOCKS_BP,
    MAX_PATHS,
    BatchInputError,
    RunParams,
    parse_as_of,
    parse_shocks,
)
from montemap.credit.simulate import SimulateError, run_simulation


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``simulate`` (and the generator helper's commands when present)."""
    try:
        gen_commands = importlib.import_module("montemap.credit.gen_commands")
    except ModuleNotFoundError as exc:
        if exc.name != "montemap.credit.gen_commands":
            raise
    else:
        gen_commands.register(subparsers)
    p = subparsers.add_parser(
        "simulate",
        help="simulate a loan portfolio under rate shocks",
        description="Run the credit model and the Monte Carlo on a generated portfolio "
        "(--data-dir) or a loan tape (--loans), writing summary.json, loans.parquet, "
        "rejects.csv and report.html into --out.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--loans", metavar="TAPE", type=Path, help="loan tape: CSV or Parquet")
    src.add_argument(
        "--data-dir", metavar="DIR", type=Path, help="data directory of a generated portfolio"
    )
    p.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder")
    p.add_argument(
        "--paths", type=int, default=DEFAULT_PATHS, help="paths per scenario (default 1000)"
    )
    p.add_argument(
        "--shocks",
        default=",".join(str(s) for s in DEFAULT_SHOCKS_BP),
        help="rate shocks in basis points, comma-separated (default 0,100,200,300)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="analysis date (default today, UTC)")
    p.add_argument("--batch-size", type=int, default=400, help="loans per batch (default 400)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)"
    )
    p.add_argument("--cutoff", type=float, default=0.5, help="WillDefault cut-off (default 0.5)")
    p.add_argument("--kappa", type=float, default=0.15, help="macro shift per point of shock")
    p.add_argument("--backend", default="numpy", help="kernel backend (default numpy)")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.set_defaults(func=run)


def params_from_args(args: argparse.Namespace) -> RunParams:
    """Validated run parameters from the command line."""
    try:
        shocks = [int(s) for s in str(args.shocks).split(",") if s.strip()]
    except ValueError:
        raise SimulateError(f"--shocks must be integers in basis points, got {args.shocks!r}")
    try:
        kwargs: dict[str, Any] = {"shocks_bp": parse_shocks("--shocks", shocks)}
        if args.as_of:
            kwargs["as_of"] = parse_as_of("--as-of", args.as_of)
    except BatchInputError as exc:
        raise SimulateError(exc.cause or str(exc))
    if not 1 <= args.paths <= MAX_PATHS:
        raise SimulateError(f"--paths must be from 1 to {MAX_PATHS}, got {args.paths}")
    if not 0 <= args.seed < 1 << 64:
        raise SimulateError(f"--seed must be from 0 to 2**64-1, got {args.seed}")
    if not 0 < args.cutoff <= 1:
        raise SimulateError(f"--cutoff must be in (0, 1], got {args.cutoff}")
    if not 0 <= args.kappa <= 10:
        raise SimulateError(f"--kappa must be in [0, 10], got {args.kappa}")
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
        **kwargs,
    )


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            print(f"\rbatches {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    outputs = run_simulation(
        args.out,
        params,
        data_dir=args.data_dir,
        tape=args.loans,
        batch_size=args.batch_size,
        workers=args.workers,
        report=not args.no_report,
        progress=progress,
    )
    s = outputs.summary
    print(
        f"{s['loans']} loans simulated, {s['rejected']} rejected, {s['matured']} matured; "
        f"{s['paths']} paths, seed {s['seed']}, as of {s['as_of']}"
    )
    print(
        f"{'shock':>7} {'exposure':>16} {'exp. loss':>14} {'VaR 99.9%':>14} {'flagged':>8} {'mean PD':>8}"
    )
    for sc in s["scenarios"]:
        print(
            f"{sc['shock_bp']:>5}bp {sc['exposure']:>16,.0f} {sc['expected_loss']:>14,.0f} "
            f"{sc['var']['0.999']:>14,.0f} {sc['defaults_flagged']:>8} {sc['mean_pd']:>8.2%}"
        )
    print(f"results in {args.out}")
    return 0
