"""The options ``montemap simulate`` and ``montemap run`` share, declared once so that
both commands read them alike and ``--help`` describes them alike, limits included.

Standard library only: ``montemap run`` reads its options before it loads any numeric
module (``tests/workflows/test_run_start.py``).
"""

from __future__ import annotations

import argparse

from montemap import option_types
from montemap.credit.shock_list import MAX_SCENARIOS, MAX_SHOCK_BP

#: Paths per scenario by default, and the most (``montemap.credit.params``' limits).
DEFAULT_PATHS = 1000
MAX_PATHS = 10_000_000
#: The largest ``--batch-size``: a Distributed Map batch of the workflow.
MAX_BATCH_SIZE = 10_000
DEFAULT_BATCH_SIZE = 400
DEFAULT_SHOCKS = "0,100,200,300"


def add_shocks_and_paths(p: argparse.ArgumentParser) -> None:
    """``--shocks`` and ``--paths``."""
    p.add_argument(
        "--shocks",
        metavar="BP,BP,...",
        default=DEFAULT_SHOCKS,
        help=f"rate shocks in basis points, comma-separated, at most {MAX_SCENARIOS} distinct "
        f"values from -{MAX_SHOCK_BP} to {MAX_SHOCK_BP} (default %(default)s)",
    )
    p.add_argument(
        "--paths",
        type=option_types.integer,
        metavar="N",
        default=DEFAULT_PATHS,
        help=f"Monte Carlo paths per scenario, 1 to {MAX_PATHS:,} (default %(default)s)",
    )


def add_seed_date_and_batch(p: argparse.ArgumentParser) -> None:
    """``--seed``, ``--as-of`` and ``--batch-size``."""
    p.add_argument(
        "--seed",
        type=option_types.integer,
        default=0,
        help="simulation seed, 0 to 2^64-1 (default %(default)s)",
    )
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="analysis date (default: today, UTC)")
    p.add_argument(
        "--batch-size",
        type=option_types.integer,
        metavar="N",
        default=DEFAULT_BATCH_SIZE,
        help=f"loans per batch, 1 to {MAX_BATCH_SIZE:,} (default %(default)s)",
    )
