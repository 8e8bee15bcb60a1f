"""Running the ``montemap`` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_montemap(
    *args: str, cwd: Path | None = None, timeout: float = 280, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``montemap ARGS`` with this interpreter, without the caller's AWS/MONTEMAP variables
    (``env``: variables to set on top).

    Its output is captured as text; the exit status is left to the caller to check.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    env = {**base, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
