"""Whether loan objects leave the page cache once read: a portfolio too large to stay cached.

Each loan object is read once per run. Where the portfolio's objects cannot all stay in
the page cache (a 5,000,000-object portfolio takes ~20 GB of it), caching them buys
nothing and pushes out what is read again: the batch outputs, which the reduction reads
minutes later. Then the workers drop each object's pages once read
(``objects.drop_after_reading``). ``montemap simulate`` decides for its own workers;
``montemap run`` sets :data:`VARIABLE` for the workers its embedded server starts, and
the batch handler (``batch.handle_batch``) obeys it, as any worker running it does.

No heavy imports here: ``montemap run`` asks before it imports the workload.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["PAGE_BYTES", "VARIABLE", "drop_requested", "too_large_to_cache"]

#: ``1``: the batch handler drops each loan object's pages once read; ``0`` or unset: not.
VARIABLE = "MONTEMAP_DROP_OBJECT_PAGES"
#: What one small object takes in the page cache at least (one page).
PAGE_BYTES = 4096


def too_large_to_cache(objects: int) -> bool:
    """Whether ``objects`` loan objects (a page each at least) would take more than half
    the machine's memory in the page cache."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows), or no answer
        return False
    return objects * PAGE_BYTES > memory // 2


def drop_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """What :data:`VARIABLE` asks; ``ValueError`` naming it for any value but 0 or 1."""
    value = environ.get(VARIABLE, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise ValueError(f"{VARIABLE} must be 0 or 1, not {value!r}")
