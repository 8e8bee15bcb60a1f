"""The environment the benchmarks run ``montemap`` in: as a user's installed copy runs.

An installed montemap keeps its modules' bytecode in ``__pycache__`` after the first
start. A shell with ``PYTHONDONTWRITEBYTECODE`` set (some sandboxes and CI images set it)
instead compiles every montemap module in every process it starts: the command, each
worker, each function process, each pool process. That costs ~0.4 s of CPU per process
and would be timed as montemap's own start. The benchmarks therefore drop the variable,
compile the sources they time once beforehand, and leave out the caller's AWS and
montemap settings.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

#: This checkout's sources.
SRC = Path(__file__).resolve().parents[1] / "src"


def child_env(src: str | Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a timed ``montemap`` process: no ``AWS_*``/``MONTEMAP_*``
    settings, bytecode caches on, ``src`` (another source folder) first on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "MONTEMAP_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def compile_sources(*others: str | Path | None) -> None:
    """Write the bytecode caches of this checkout's ``src`` and of ``others`` (source
    folders; ``None`` is skipped)."""
    for folder in (SRC, *filter(None, others)):
        compileall.compile_dir(str(folder), quiet=1, workers=1)
