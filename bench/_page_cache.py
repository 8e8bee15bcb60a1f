"""Page-cache residency and eviction of objects, for the benchmarks (no privileges needed)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def cached_share(root: Path, keys: Sequence[str]) -> float:
    """The share of these objects with their first page in the page cache (util-linux
    ``fincore``: ``mincore``/``cachestat``, which read nothing); pass a sample."""
    paths = [str(root / k) for k in keys]
    pages: list[int] = []
    for i in range(0, len(paths), 500):
        text = subprocess.run(
            ["fincore", "--raw", "--noheadings", "--output", "PAGES", *paths[i : i + 500]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        pages += [int(x) for x in text.split()]
    return sum(1 for p in pages if p > 0) / len(pages) if pages else float("nan")


def drop_pages(root: Path, keys: Sequence[str]) -> None:
    """Drop these objects' clean pages from the page cache (``POSIX_FADV_DONTNEED``:
    nothing is written; a dirty page stays); a missing object or a link is passed over."""
    for key in keys:
        try:
            fd = os.open(root / key, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
