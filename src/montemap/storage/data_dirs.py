"""What a montemap data directory is, and refusing one that is someone else's folder.

A data directory holds ``montemap.db``, ``buckets/`` (the local object store),
``runs/``, ``logs/``... A ``--data-dir`` that is not empty but holds none of these is a
mistake (``--data-dir ~``): montemap would write its files among the user's.
"""

from __future__ import annotations

import os
from pathlib import Path

from montemap.errors import MontemapError

__all__ = ["DATA_DIR_ENTRIES", "ForeignDirectory", "refuse_foreign_directory"]


#: Entries a montemap data directory holds (``README.md``, "Configuration"); a directory
#: holding any of them is taken for one.
DATA_DIR_ENTRIES = frozenset({"buckets", "runs", "logs", "lambda", "lambda-run", "portfolio.json"})


class ForeignDirectory(MontemapError):
    """A ``--data-dir`` that holds other files and nothing of montemap's."""


def refuse_foreign_directory(path: Path) -> None:
    """Refuse (one line) a ``--data-dir`` that is not empty but holds nothing a montemap data
    directory holds (``montemap.db``, ``buckets/``, ...): a mistyped ``--data-dir ~`` or
    ``--data-dir .`` would fill someone else's folder with montemap's files, and write its
    ``portfolio.json``, ``logs/`` and ``runs/`` among theirs. A new or empty one is used."""
    try:
        names = [entry.name for entry in os.scandir(path)]
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise ForeignDirectory(f"--data-dir {str(path)!r} is not a directory") from None
    if not names or any(n in DATA_DIR_ENTRIES or n.startswith("montemap.") for n in names):
        return
    shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
    raise ForeignDirectory(
        f"--data-dir {str(path)!r} holds other files ({shown}) and no montemap data "
        "(montemap.db, buckets/): give a new or empty directory, or an existing data directory"
    )
