"""A command line's list of rate shocks (``--shocks -100,0,+200``), read strictly.

Standard library only: ``montemap run`` checks its options before it loads any
numeric module.
"""

from __future__ import annotations

import re

from montemap.errors import MontemapError

#: The largest rate shock either way, in basis points.
MAX_SHOCK_BP = 5_000
#: The most scenarios a run holds. Every loan is modelled and written once per
#: scenario (``loans.parquet`` holds loans x scenarios rows; each batch's paths are
#: ``scenarios x paths`` numbers), so the scenarios multiply a run's time, memory and
#: output: 64 covers a grid of every 100 bp from -3,100 to +3,200, and a mistyped list
#: (``$(seq -s, -5000 5000)``: 10,001 scenarios) is refused instead of run.
MAX_SCENARIOS = 64
#: One shock as written on a command line: a plain decimal integer, ASCII digits.
_SHOCK_TEXT = re.compile(r"[+-]?[0-9]+")


class ShockListError(MontemapError):
    """A ``--shocks`` list that cannot be used (the message is one line)."""


def parse_shock_list(option: str, text: str) -> tuple[int, ...]:
    """The shocks of a command line's comma-separated list (``--shocks -100,0,+200``):
    each a plain decimal integer of ASCII digits with an optional sign (Python's ``int``
    also reads ``1_000`` and the digits of other scripts, such as ``١٠٠``), spaces
    around the commas allowed; 1 to :data:`MAX_SCENARIOS` distinct values from -5,000
    to 5,000. Raises :class:`ShockListError` with a one-line message naming ``option``."""
    parts = text.split(",")
    if len(parts) > MAX_SCENARIOS:
        raise ShockListError(
            f"{option} lists {len(parts):,} scenarios; at most {MAX_SCENARIOS} are allowed "
            "(each multiplies the run's work and output)"
        )
    values = [part.strip(" ") for part in parts]
    bad = next((v for v in values if not _SHOCK_TEXT.fullmatch(v)), None)
    if bad is not None:
        raise ShockListError(
            f"{option} must be integers in basis points, comma-separated "
            f"(e.g. -100,0,200), got {_shown(bad)}"
        )
    # more than 4 significant digits is out of range (and int() of thousands of digits
    # raises ValueError)
    outside = [
        v
        for v in values
        if len(v.lstrip("+-").lstrip("0")) > 4 or not -MAX_SHOCK_BP <= int(v) <= MAX_SHOCK_BP
    ]
    if outside:
        raise ShockListError(
            f"{option} must be from -{MAX_SHOCK_BP} to {MAX_SHOCK_BP} basis points, got "
            + ",".join(_shown(v, quote=False) for v in outside[:5])
            + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        )
    shocks = tuple(int(v) for v in values)
    repeated = [s for s in shocks if shocks.count(s) > 1]
    if repeated:
        raise ShockListError(f"{option} repeats a scenario: {repeated[0]:+d} bp")
    return shocks


def _shown(value: str, *, quote: bool = True) -> str:
    """A value for a one-line message: at most 24 characters of it."""
    short = value if len(value) <= 24 else value[:24] + "..."
    return repr(short) if quote else short
