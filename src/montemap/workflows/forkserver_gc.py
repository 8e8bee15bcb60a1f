"""The functions' forkserver: the objects of its imports out of the collector's reach.

:func:`montemap.workflows.prestart.start_function_forkserver` has the forkserver import this
module after the functions' modules, with :data:`FREEZE_VARIABLE` set in the forkserver's
environment only. It then moves every object those imports made into the cyclic
collector's permanent generation (``gc.freeze``), and once more as the forkserver exits:

* the pool's processes are forked from the forkserver and inherit these objects frozen:
  their collections neither walk them nor write to their headers, which would copy the
  forkserver's pages into each process (copy-on-write);
* the forkserver ends when the server's process does, through the interpreter's final
  collections, which no longer walk them (~0.12 s of CPU before, ~0.03 s after). It holds
  the command's standard output until it is gone, so whatever reads that output to its end
  (a pipe, a benchmark) waited for it.

Imported anywhere else (a tool that imports every module), it does nothing.
"""

from __future__ import annotations

import atexit
import gc
import os

#: Set (to ``"1"``) in the forkserver's environment only.
FREEZE_VARIABLE = "MONTEMAP_FORKSERVER_FREEZE"

if os.environ.get(FREEZE_VARIABLE) == "1":
    gc.freeze()
    atexit.register(gc.freeze)
