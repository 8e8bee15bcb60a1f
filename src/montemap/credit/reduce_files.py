"""The run's files as the reduction writes them: in place only when complete, the lists
(``rejects.csv``, ``matured.csv``) streamed group by group in key order, and the
upload to the object store streamed from the files."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from montemap.credit.params import RunParams
from montemap.credit.reduce_scan import BatchInfo, read_meta
from montemap.storage import ObjectStore

MATURED_COLUMNS = ("key", "AccountID", "OriginationDate", "LoanTerm")
LIST_FILES = ("rejects.csv", "matured.csv")
#: Every file of a run folder the reduction writes, ``summary.json`` last.
RUN_FILES = ("loans.parquet", "contributions.parquet", *LIST_FILES, "summary.json")
_PARTIAL = ".partial"


class RunFiles:
    """A run folder being written: files go to ``<name>.partial`` and are renamed into
    place by :meth:`commit`; :meth:`discard` removes what was not committed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / f"{name}{_PARTIAL}"

    def commit(self, names: Iterable[str]) -> None:
        for name in names:
            os.replace(self.path(name), self.root / name)

    def discard(self) -> None:
        for name in RUN_FILES:
            self.path(name).unlink(missing_ok=True)


def write_lists(
    store: ObjectStore, params: RunParams, groups: Sequence[list[BatchInfo]], files: RunFiles
) -> None:
    """``rejects.csv`` (sorted by key, then reason) and ``matured.csv`` (by key), one
    group of overlapping batches at a time."""
    with (
        open(files.path("rejects.csv"), "w", newline="", encoding="utf-8") as rf,
        open(files.path("matured.csv"), "w", newline="", encoding="utf-8") as mf,
    ):
        rejects, matured = csv.writer(rf, lineterminator="\n"), csv.writer(mf, lineterminator="\n")
        rejects.writerow(["key", "reason"])
        matured.writerow(MATURED_COLUMNS)
        for group in groups:
            found: list[tuple[str, str]] = []
            gone: list[dict[str, Any]] = []
            for info in group:
                meta = read_meta(store, params, info.batch_id)
                found.extend((r["key"], r["reason"]) for r in meta["rejects"])
                gone.extend(meta.get("matured_loans", []))
            rejects.writerows(sorted(found))
            gone.sort(key=lambda r: str(r["key"]))
            matured.writerows([r.get(c, "") for c in MATURED_COLUMNS] for r in gone)


def publish_store(store: ObjectStore, params: RunParams, run_dir: Path) -> None:
    """Upload the run folder's files under the run prefix, streamed, ``summary.json`` last."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.exists():
            with open(path, "rb") as f:
                store.put_stream(params.output_bucket, params.run_key(name), f)
