"""Running the ``montemap`` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_montemap(
    *args: str, cwd: Path | None = None, timeout: float = 280
) -> subprocess.CompletedProcess[str]:
    """``montemap ARGS`` with this interpreter, without the caller's AWS/MONTEMAP variables.

    Its output is captured as text; the exit status is left to the caller to check.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MONTEMAP_"))}
    return subprocess.run(
        [sys.executable, "-m", "montemap.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
