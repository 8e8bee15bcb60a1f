"""Where the AWS-recorded conformance corpus lives in the repository, and how to read it.

``corpus/`` is a copy of the Apache-2.0 data described in ``corpus/README.md``
(see ``corpus/NOTICE``), kept here so every clone runs all of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).resolve().parent / "corpus" / "cases.jsonl"
#: The corpus holds this many cases; a short file fails the suite instead of shrinking it.
EXPECTED_CASES = 637


def load_cases() -> list[dict[str, Any]]:
    """Every case, in file order."""
    lines = CASES_FILE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
