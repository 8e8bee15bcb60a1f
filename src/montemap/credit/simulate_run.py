"""The body of ``montemap simulate``: size the run (``--target-se``), run it, print the
figures and the data-quality block."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable
from typing import Any

from montemap.credit.params import RunParams
from montemap.credit.portfolio_lock import reading_portfolio
from montemap.credit.quality import quality_lines
from montemap.credit.reduce import RunOutputs
from montemap.credit.simulate import SimulateError, paths_for_target, run_simulation

#: The smallest ``--target-se``: 0.01%. Below it no pilot says anything useful (the
#: standard error is itself estimated to a few percent of its value), and 10,000,000
#: paths reach it only from a pilot of 1,000 whose relative SE is at most 1%.
MIN_TARGET_SE = 1e-4


def parse_target_se(text: str | None) -> float | None:
    """``--target-se`` as a fraction: ``1%`` or ``0.01``; from 0.01% to under 100%."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise SimulateError(
            f"--target-se must be a percentage such as 1% or 0.5% (or a fraction such as "
            f"0.01), got {text!r}"
        ) from None
    if not (math.isfinite(value) and MIN_TARGET_SE <= value < 1):
        raise SimulateError(
            f"--target-se must be from {MIN_TARGET_SE:.2%} to under 100% (the relative "
            f"standard error of VaR 99.9%), got {text!r}"
        )
    return value


def simulate(args: argparse.Namespace, params: RunParams) -> int:
    """Run ``montemap simulate`` with validated parameters; prints the results."""
    target = parse_target_se(getattr(args, "target_se", None))
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            print(f"\rbatches {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    def once(p: RunParams, report: bool) -> RunOutputs:
        return run_simulation(
            args.out,
            p,
            data_dir=args.data_dir,
            tape=args.loans,
            batch_size=args.batch_size,
            workers=args.workers,
            report=report,
            strict=getattr(args, "strict", False),
            progress=progress,
        )

    with reading_portfolio(args.data_dir):  # the pilot's portfolio is the run's
        outputs = _pilot_and_run(args, params, target, once)
    print_summary(outputs.summary)
    print(f"results in {args.out}")
    return 0


def _pilot_and_run(
    args: argparse.Namespace,
    params: RunParams,
    target: float | None,
    once: Callable[[RunParams, bool], RunOutputs],
) -> RunOutputs:
    """The run, sized by a pilot run first where ``--target-se`` is given."""
    if target is not None:
        pilot = params.paths  # --paths (default 1000) sizes the pilot run
        outputs = once(params, False)
        paths = paths_for_target(outputs.summary, target, pilot)
        print(
            f"pilot run of {pilot:,} paths: relative SE of VaR 99.9% "
            f"{_worst_relative_se(outputs.summary):.2%}; --target-se {target:.2%} needs "
            f"{paths:,} paths"
        )
        if paths > pilot:
            params = dataclasses.replace(params, paths=paths)
            outputs = once(params, not args.no_report)
        elif not args.no_report:
            outputs = once(params, True)
    else:
        outputs = once(params, not args.no_report)
    return outputs


def _worst_relative_se(summary: dict[str, Any]) -> float:
    ratios = [
        sc["var_se"]["0.999"] / sc["var"]["0.999"]
        for sc in summary["scenarios"]
        if sc["var"]["0.999"] > 0 and sc["var_se"]["0.999"] is not None
    ]
    return max(ratios) if ratios else float("nan")


def print_summary(s: dict[str, Any]) -> None:
    """The headline table (VaR 99.9% with its 95% interval) and the data-quality block."""
    print(
        f"{s['loans']:,} loans simulated, {s['rejected']:,} rejected, {s['matured']:,} matured; "
        f"{s['paths']:,} paths ({s.get('estimator', 'is')}), seed {s['seed']}, as of {s['as_of']}"
    )
    print(
        f"{'shock':>7} {'exposure':>16} {'exp. loss':>14} {'VaR 99.9%':>14} "
        f"{'95% interval':>29} {'flagged':>8} {'mean PD':>8}"
    )
    for sc in s["scenarios"]:
        low, high = (
            "?" if x is None else f"{x:,.0f}"
            for x in sc.get("var_ci", {}).get("0.999", [None, None])
        )
        print(
            f"{sc['shock_bp']:>5}bp {sc['exposure']:>16,.0f} {sc['expected_loss']:>14,.0f} "
            f"{sc['var']['0.999']:>14,.0f} {low:>14}-{high:<14} "
            f"{sc['defaults_flagged']:>8} {sc['mean_pd']:>8.2%}"
        )
    for line in quality_lines(s):
        print(line)
