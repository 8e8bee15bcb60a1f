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
from pathlib import Path

__all__ = ["PAGE_BYTES", "VARIABLE", "drop_requested", "memory_bytes", "too_large_to_cache"]

#: ``1``: the batch handler drops each loan object's pages once read; ``0`` or unset: not.
VARIABLE = "MONTEMAP_DROP_OBJECT_PAGES"
#: What one small object takes in the page cache at least (one page).
PAGE_BYTES = 4096


def too_large_to_cache(objects: int) -> bool:
    """Whether ``objects`` loan objects (a page each at least) would take more than half
    the memory this process may fill (:func:`memory_bytes`) in the page cache."""
    memory = memory_bytes()
    return memory is not None and objects * PAGE_BYTES > memory // 2


def memory_bytes(
    *, proc_cgroup: Path = Path("/proc/self/cgroup"), cgroup_root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The memory this process's page cache can fill: the machine's, or less where a
    control group it is in sets a lower limit (a container's: cgroup v2 ``memory.max``,
    v1 ``memory.limit_in_bytes``, its own group's or an ancestor's); None where neither
    can be read."""
    limits = _cgroup_limits(proc_cgroup, cgroup_root)
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows), or no answer
        pass
    return min(limits) if limits else None


#: A v1 limit at least this large is "no limit" (the kernel shows 2**63 rounded to pages).
_UNLIMITED = 1 << 62


def _cgroup_limits(proc_cgroup: Path, cgroup_root: Path) -> list[int]:
    """Every memory limit of the process's control groups and their ancestors."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    found: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: one hierarchy
            where, name = cgroup_root, "memory.max"
        elif "memory" in controllers.split(","):
            where, name = cgroup_root / "memory", "memory.limit_in_bytes"
        else:
            continue
        group = where / path.strip("/")
        for directory in (group, *group.parents):
            found.extend(_limit(directory / name))
            if directory == where:
                break
    return found


def _limit(path: Path) -> list[int]:
    """The limit a file holds, if it holds one (``max``, a huge value, none: no limit)."""
    try:
        text = path.read_text().strip()
    except (OSError, ValueError):
        return []
    if not text.isdigit() or int(text) >= _UNLIMITED:
        return []
    return [int(text)]


def drop_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """What :data:`VARIABLE` asks; ``ValueError`` naming it for any value but 0 or 1."""
    value = environ.get(VARIABLE, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise ValueError(f"{VARIABLE} must be 0 or 1, not {value!r}")
