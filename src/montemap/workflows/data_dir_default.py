"""The data directory the job's commands use when ``--data-dir`` is not given."""

from __future__ import annotations

import os

__all__ = ["DATA_DIR_HELP", "DATA_DIR_VARIABLE", "DEFAULT_DATA_DIR", "default_data_dir"]

DEFAULT_DATA_DIR = "montemap-data"
DATA_DIR_VARIABLE = "MONTEMAP_DATA_DIR"
DATA_DIR_HELP = f"default: ${DATA_DIR_VARIABLE}, else {DEFAULT_DATA_DIR}"


def default_data_dir() -> str:
    """``$MONTEMAP_DATA_DIR`` where set (as ``generate`` and ``import`` take it), else
    ``montemap-data``: the portfolio ``generate`` wrote there is the one ``run`` simulates,
    and the runs ``compare`` and ``aws collect`` look for are there."""
    return os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR
