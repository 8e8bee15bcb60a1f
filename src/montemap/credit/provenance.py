"""``portfolio.json``: where a local data directory's portfolio came from.

Written next to ``buckets/`` by ``generate`` and ``import``
(:func:`montemap.credit.gen_commands.write_provenance`) and read by ``montemap
run``, which uses such a portfolio as it is and never replaces it. This module
imports nothing heavy, so reading the record does not load the credit workload
(NumPy, SciPy, PyArrow: ~0.45 s of CPU before ``run`` could start).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from montemap.errors import MontemapError

PORTFOLIO_FILE = "portfolio.json"


class ProvenanceError(MontemapError):
    """``portfolio.json`` exists but cannot be read as a JSON object."""


def read_provenance(data_dir: Path) -> dict[str, Any] | None:
    """What ``data_dir/portfolio.json`` records, ``None`` without one."""
    path = data_dir / PORTFOLIO_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProvenanceError(f"{path} cannot be read: {exc}") from None
    if not isinstance(doc, dict):
        raise ProvenanceError(f"{path} does not hold a JSON object")
    return doc
