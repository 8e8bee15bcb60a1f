"""One BLAS thread while the reduction runs.

NumPy's OpenBLAS starts one thread per core and, between calls, those threads spin.
The reduction's matrix products are small (a slice of loans x 48 factor bins times
48 x 4 figures): on two cores the spinning threads cost about ten times the product
itself. With one thread each product is the same computation (the same bits; every
output element is one dot product made by the same kernel), so :func:`single_thread_blas`
pins OpenBLAS to one thread for the duration and restores the previous count after.
Where the BLAS is not OpenBLAS (or its controls cannot be found) it does nothing.

The ``montemap`` commands go further: they set ``OPENBLAS_NUM_THREADS=1`` for themselves
and every process they start (:func:`montemap.cli.one_blas_thread`), so no extra thread
exists to spin. This block stays for callers of the reduction that do not come through
the command line (a user's own process calling :func:`~montemap.credit.reduce.reduce_run`).
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np  # noqa: F401  (loads the BLAS this module controls)

#: (setter, getter) names, newest packaging first.
_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_LOCK = threading.Lock()
_DEPTH = 0
_SAVED: list[tuple[Any, int]] = []


def _controls() -> list[tuple[Any, Any]]:
    """(set, get) functions of every OpenBLAS loaded in this process."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for setter, getter in _SYMBOLS:
            if hasattr(lib, setter) and hasattr(lib, getter):
                found.append((getattr(lib, setter), getattr(lib, getter)))
                break
    return found


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """OpenBLAS limited to one thread inside the block (nested blocks are fine)."""
    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            for set_threads, get_threads in _controls():
                _SAVED.append((set_threads, int(get_threads())))
                set_threads(1)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                for set_threads, threads in _SAVED:
                    set_threads(threads)
                _SAVED.clear()
