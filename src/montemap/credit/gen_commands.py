"""``montemap generate``, ``montemap import`` and ``montemap report``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from montemap import option_types
from montemap.credit.generator import LAYOUTS, Layout, generate
from montemap.credit.portfolio import (
    SOURCE_BUCKET,
    Destination,
    GeneratorError,
    WriteResult,
    local_destination,
)
from montemap.credit.provenance import PORTFOLIO_FILE
from montemap.credit.stop_signals import Stopped, stoppable, stopped_exit_status
from montemap.storage import StoreConfigError, open_store
from montemap.storage.data_dirs import refuse_foreign_directory


def user_path(text: str) -> Path:
    """A path option: ``~`` is the home directory, also where the shell left it
    (``--out=~/run``)."""
    return Path(text).expanduser()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate``, ``import`` and ``report``."""
    g = subparsers.add_parser(
        "generate",
        help="generate a loan portfolio (one CSV object per loan + S3 Inventory)",
        description="Generate N loans as data/data-gen-NNNNNN.csv objects in the source "
        f"bucket ({SOURCE_BUCKET} under DIR/buckets, or an S3 bucket with --out), with the "
        "S3 Inventory (inventory/*.csv.gz and inventory/manifest.json) that the workflow's "
        "Distributed Map reads. Deterministic for the same --loans, --layout, --seed and "
        "--as-of.",
    )
    g.add_argument(
        "--loans", type=option_types.integer, required=True, metavar="N", help="number of loans"
    )
    g.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="realistic",
        help="realistic: coherent loans (default); seed: the original workload's "
        "independent uniform columns",
    )
    g.add_argument(
        "--seed",
        "--portfolio-seed",
        dest="seed",
        type=option_types.integer,
        default=0,
        help="random seed of the portfolio, 0..2^64-1 (default 0)",
    )
    _destination_args(g)
    g.set_defaults(func=run_generate)

    i = subparsers.add_parser(
        "import",
        help="split a loan tape (CSV or Parquet) into the portfolio layout",
        description="Write one object per tape row (data/data-gen-NNNNNN.csv, in tape order) "
        "plus the S3 Inventory, exactly as 'generate' does. Required columns: AccountID, "
        "ZipCode, Rate, Payment, LoanAmount, LoanTerm, OriginationDate, GrossIncome.",
    )
    i.add_argument("tape", type=user_path, metavar="TAPE", help="CSV (optionally .gz) or Parquet")
    i.add_argument(
        "--strict",
        action="store_true",
        help="refuse the tape when a value is empty, not a number or out of range, not a "
        "date, not a ZIP code, or none of LoanType's or RateType's options (default: import "
        "it and let the simulation reject those loans with a reason)",
    )
    _destination_args(i)
    i.set_defaults(func=run_import)

    r = subparsers.add_parser(
        "report",
        help="(re)build report.html of a simulation run",
        description="Read summary.json and loans.parquet in RUN_DIR and write RUN_DIR/report.html.",
    )
    r.add_argument("run_dir", type=user_path, metavar="RUN_DIR", help="output folder of a run")
    r.set_defaults(func=run_report)


def _destination_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=user_path,
        metavar="DIR",
        help="local data directory (default $MONTEMAP_DATA_DIR); "
        f"objects go to DIR/buckets/{SOURCE_BUCKET}/",
    )
    where.add_argument(
        "--out", metavar="s3://BUCKET/PREFIX", help="write to an S3 bucket (and key prefix)"
    )
    p.add_argument(
        "--endpoint-url", metavar="URL", help="S3 endpoint for --out (default: AWS's own)"
    )
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="reference date (default today, UTC)")
    p.add_argument(
        "--force", action="store_true", help="replace a portfolio already at the destination"
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def local_data_dir(args: argparse.Namespace) -> Path | None:
    """The local data directory the command writes to, or ``None`` for ``--out s3://``."""
    if args.out:
        return None
    data_dir = args.data_dir or os.environ.get("MONTEMAP_DATA_DIR")
    return Path(data_dir).expanduser() if data_dir else None


def write_provenance(data_dir: Path, origin: str, result: WriteResult, **details: Any) -> None:
    """Record in ``data_dir/portfolio.json`` what made the portfolio (``generated``/``imported``)."""
    doc = {"origin": origin, "loans": result.loans, **details}
    (data_dir / PORTFOLIO_FILE).write_text(json.dumps(doc) + "\n")


def destination_from_args(args: argparse.Namespace) -> Destination:
    """The destination named by --data-dir / --out / --endpoint-url (validated)."""
    if args.out:
        bucket, prefix = parse_s3_url(args.out)
        spec = "s3://"
        if args.endpoint_url:
            spec += f"?endpoint_url={args.endpoint_url}"
        try:
            store = open_store(spec)
        except StoreConfigError as exc:
            raise GeneratorError(str(exc)) from None
        return Destination(store, bucket, prefix)
    if args.endpoint_url:
        raise GeneratorError("--endpoint-url goes with --out s3://BUCKET/PREFIX")
    data_dir = args.data_dir or os.environ.get("MONTEMAP_DATA_DIR")
    if not data_dir:
        raise GeneratorError("give --data-dir DIR (or set MONTEMAP_DATA_DIR), or --out s3://...")
    path = Path(data_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise GeneratorError(f"--data-dir {str(path)!r} is not a directory")
    refuse_foreign_directory(path)
    return local_destination(path)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/")."""
    if not url.startswith("s3://"):
        raise GeneratorError(f"--out must be an s3://BUCKET/PREFIX URL, got {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise GeneratorError(f"--out {url!r} names no bucket")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise GeneratorError(f"--as-of must be a date YYYY-MM-DD, got {value!r}") from None


def _progress(quiet: bool, started: float) -> Callable[[int, int], None] | None:
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-9)
        end = "\n" if done == total else ""
        print(f"\r{done:,}/{total:,} loans ({rate:,.0f}/s)", end=end, file=sys.stderr)

    return show


def _print_result(what: str, result: WriteResult, seconds: float) -> None:
    files = len(result.inventory_files)
    print(
        f"{what} {result.loans:,} loans ({result.data_bytes / 1e6:,.1f} MB) in {seconds:.1f} s "
        f"to {result.destination}\n"
        f"inventory: {result.manifest_key} ({files} file{'s' if files != 1 else ''}), "
        f"columns: {', '.join(result.columns)}"
    )


def run_generate(args: argparse.Namespace) -> int:
    try:
        with stoppable():
            return _generate(args)
    except Stopped as stopped:
        return stopped_exit_status(stopped)


def _generate(args: argparse.Namespace) -> int:
    dest = destination_from_args(args)
    layout: Layout = args.layout
    started = time.monotonic()
    result = generate(
        dest,
        args.loans,
        layout=layout,
        seed=args.seed,
        as_of=parse_date(args.as_of),
        replace=args.force,
        progress=_progress(args.quiet, started),
    )
    _print_result(f"generated ({layout}, seed {args.seed})", result, time.monotonic() - started)
    data_dir = local_data_dir(args)
    if data_dir is not None:
        as_of = parse_date(args.as_of)
        write_provenance(
            data_dir,
            "generated",
            result,
            layout=layout,
            seed=args.seed,
            as_of=as_of.isoformat() if as_of else None,
        )
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        with stoppable():
            return _import(args)
    except Stopped as stopped:
        return stopped_exit_status(stopped)


def _import(args: argparse.Namespace) -> int:
    from montemap.credit.tape import import_tape

    dest = destination_from_args(args)
    started = time.monotonic()
    result = import_tape(
        args.tape, dest, as_of=parse_date(args.as_of), replace=args.force, strict=args.strict
    )
    _print_result(f"imported {result.format} tape", result.write, time.monotonic() - started)
    data_dir = local_data_dir(args)
    if data_dir is not None:
        write_provenance(data_dir, "imported", result.write, source=result.source)
    if result.ignored_columns:
        print(f"ignored columns: {', '.join(result.ignored_columns)}")
    if result.issue_count:
        print(
            f"warning: {result.issue_count} value(s) the simulation will reject "
            f"(those loans go to rejects.csv):",
            file=sys.stderr,
        )
        for issue in result.issues:
            print(f"  {issue}", file=sys.stderr)
        if result.issue_count > len(result.issues):
            print(f"  ... and {result.issue_count - len(result.issues)} more", file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from montemap.credit.report import write_report

    path = write_report(args.run_dir)
    print(f"wrote {path}")
    return 0
