"""Where functions' code is unpacked, so that new code never changes a running invocation.

A published version's directory (``<name>/1``...) never changes. ``$LATEST``
does, so ``<name>/$LATEST`` is a symbolic link to the current *generation*
(``<name>/$LATEST@<id>``): UpdateFunctionCode unpacks a new generation and
swaps the link at once. An invocation runs in the generation the link named
when it started (its working directory, which the bootstraps import from),
as a Lambda execution environment keeps the code it was started with; a
replaced generation is removed once no invocation runs in it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from montemap.lambda_api import codezip
from montemap.lambda_names import LATEST

_GENERATION = f"{LATEST}@"


class CodeDirs:
    """The code directories under ``root`` and the generations invocations run in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._busy: Counter[Path] = Counter()

    def path(self, name: str, version: str) -> Path:
        """The version's directory (for ``$LATEST``, the link to its current generation)."""
        return self.root / name / version

    def install_latest(self, name: str, data: bytes) -> None:
        """Unpack a checked package as a new generation and make it ``$LATEST`` (blocking)."""
        generation = self.root / name / f"{_GENERATION}{uuid.uuid4().hex}"
        codezip.unpack(data, generation)
        link = self.path(name, LATEST)
        staged = link.with_name(f".link-{uuid.uuid4().hex}")
        os.symlink(generation.name, staged)
        with self._lock:
            if link.is_dir() and not link.is_symlink():  # code unpacked before generations
                link.rename(link.with_name(f"{_GENERATION}{uuid.uuid4().hex}"))
            os.replace(staged, link)
        self.sweep(name)

    @contextlib.contextmanager
    def running(self, code_dir: Path) -> Iterator[Path]:
        """The directory an invocation of ``code_dir`` runs in, kept while it runs."""
        with self._lock:
            real = code_dir.resolve()
            self._busy[real] += 1
        try:
            yield real
        finally:
            with self._lock:
                self._busy[real] -= 1
                if self._busy[real] <= 0:
                    del self._busy[real]

    def sweep(self, name: str) -> None:
        """Remove the function's replaced generations no invocation runs in (blocking)."""
        folder = self.root / name
        with self._lock:
            current = self.path(name, LATEST).resolve()
            with contextlib.suppress(OSError):
                stale = [
                    p
                    for p in folder.iterdir()
                    if p.name.startswith(_GENERATION)
                    and not p.is_symlink()
                    and p.resolve() != current
                    and not self._busy.get(p.resolve())
                ]
                for path in stale:  # renamed under the lock: no invocation can start in it
                    path.rename(folder / f".old-{uuid.uuid4().hex}")
        with contextlib.suppress(OSError):
            for old in folder.glob(".old-*"):
                shutil.rmtree(old, ignore_errors=True)
