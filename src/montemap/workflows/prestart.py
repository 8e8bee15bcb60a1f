"""Starting the shipped workflows' function process early, for ``montemap run``.

The builtin functions (``PartitionInventory``, ``ReduceAndReport``, ...) run in a
process pool the server starts through multiprocessing's ``forkserver``. Started
on the first call, that pool would put a process start and the functions' imports
(NumPy, PyArrow, SciPy: about half a second of CPU) on the execution's critical
path. ``montemap run`` instead starts the forkserver first thing, importing those
modules in it on the machine's other core while the command imports and starts
its server; the server then forks its pool process from it (see
:meth:`montemap.engine.lambdas.FunctionRegistry.warm`), ready before the
execution's first state. A server that is never asked to run a function
(``montemap server``) starts none of this.

The forkserver is a fresh interpreter (``exec``), not a fork: it holds none of
this process's sockets or files, and neither do the processes forked from it.
After the modules it imports :mod:`montemap.workflows.forkserver_gc`, which freezes
their objects for the collector (see there).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from multiprocessing import forkserver

from montemap.workflows import forkserver_gc

#: The modules the shipped workflows' functions need: the functions themselves and the
#: report ``ReduceAndReport`` writes (imported there on first use).
FUNCTION_MODULES = (
    "montemap.workflows.functions",
    "montemap.credit.simulate",
    "montemap.credit.report",
)


def start_function_forkserver(modules: Sequence[str] = FUNCTION_MODULES) -> None:
    """Start this process's forkserver now with ``modules`` imported in it (the imports
    run in that process, in the background, and cost this one nothing), then their
    objects frozen for its collector (:mod:`montemap.workflows.forkserver_gc`).

    Nothing happens where the platform has no forkserver; where this process's
    forkserver already runs, it keeps the modules it was started with.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    preload = [*modules, forkserver_gc.__name__]
    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    # the forkserver takes this process's environment as it starts: the variable is
    # there only for that moment (the pool's processes take the server's environment)
    previous = os.environ.get(forkserver_gc.FREEZE_VARIABLE)
    os.environ[forkserver_gc.FREEZE_VARIABLE] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if previous is None:
            os.environ.pop(forkserver_gc.FREEZE_VARIABLE, None)
        else:
            os.environ[forkserver_gc.FREEZE_VARIABLE] = previous
