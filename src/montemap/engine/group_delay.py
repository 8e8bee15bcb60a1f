"""How long a group transaction waits for more work before its COMMIT (opt-in).

By default a group commits at the end of the first event-loop turn in which no more
work joined it (at most ``db.MAX_GROUP_DELAY`` after it opened): an idle server answers
at once. When requests arrive a few milliseconds apart (activity workers each reporting
a 100 ms batch), that is a COMMIT per request, and each COMMIT writes the pages it
touched to the WAL again: measured with workers that hold each task 50 ms, 1.69 COMMITs
and 2.6 ms of server CPU per Distributed Map batch, against 2.1 ms when every group
waits 5 ms (docs/benchmarks.md, session 23).

``MONTEMAP_COMMIT_DELAY_MS=N`` makes every group wait ``N`` ms (at most
:data:`MAX_DELAY_MS`) before its COMMIT, so the writes of that window share one.
Nothing is acknowledged earlier than before (a response still waits for the COMMIT of
what it reports): each acknowledgement comes up to ``N`` ms later, and what a SIGKILL
can lose is, as always, only work nobody was told about.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from montemap import option_types
from montemap.engine.dbcheck import DatabaseFileError

__all__ = ["MAX_DELAY_MS", "VARIABLE", "group_delay"]

VARIABLE = "MONTEMAP_COMMIT_DELAY_MS"
#: The longest wait accepted (milliseconds).
MAX_DELAY_MS = 100.0


def group_delay(env: Mapping[str, str] | None = None) -> float:
    """Seconds a group waits before its COMMIT (``MONTEMAP_COMMIT_DELAY_MS`` in ``env``,
    the process environment by default; 0: none)."""
    text = (os.environ if env is None else env).get(VARIABLE, "").strip()
    if not text:
        return 0.0
    # ASCII only: ``float`` also reads ``1_0``, ``١``, ``nan``
    value = float(text) if option_types.is_decimal_text(text) else -1.0
    if not 0 <= value <= MAX_DELAY_MS:  # also NaN
        raise DatabaseFileError(
            f"{VARIABLE} must be a number of milliseconds from 0 to {MAX_DELAY_MS:g}, not {text!r}"
        )
    return value / 1000
