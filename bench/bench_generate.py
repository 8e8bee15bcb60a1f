"""Portfolio generation speed: loans per second, where the time goes, peak memory.

    python bench/bench_generate.py [--loans 500000] [--layout realistic] [--dir DIR]

Generates the portfolio into DIR (default: a temporary directory on the working disk,
removed afterwards) and prints the total time, the time spent drawing and formatting
rows in memory (the rest is writing one file per loan and the inventory), and the
peak resident memory, which stays flat because the work streams in blocks of 65,536.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import tempfile
import time
from pathlib import Path

from montemap.credit.generator import BLOCK, generate, generate_rows
from montemap.credit.portfolio import local_destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=500_000)
    parser.add_argument("--layout", choices=("seed", "realistic"), default="realistic")
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp dir)")
    args = parser.parse_args()
    as_of = dt.date(2026, 11, 27)

    started = time.perf_counter()
    for start in range(0, args.loans, BLOCK):
        generate_rows(args.layout, 1, start, min(BLOCK, args.loans - start), as_of)
    rows_s = time.perf_counter() - started

    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-generate-"))
    try:
        started = time.perf_counter()
        result = generate(
            local_destination(base), args.loans, layout=args.layout, seed=1, as_of=as_of
        )
        total_s = time.perf_counter() - started
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"layout {args.layout}, {args.loans:,} loans, {result.data_bytes / 1e6:,.1f} MB")
    print(f"total        {total_s:8.2f} s  ({args.loans / total_s:,.0f} loans/s)")
    print(f"rows only    {rows_s:8.2f} s  (draw + format in memory)")
    print(f"files        {total_s - rows_s:8.2f} s  (one object per loan + inventory)")
    print(f"peak RSS     {peak_mb:8.0f} MB")


if __name__ == "__main__":
    main()
