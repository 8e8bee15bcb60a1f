"""The run's files as the reduction writes them: in place only when complete, the lists
(``rejects.csv``, ``matured.csv``) streamed in key order by a merge, and the
upload to the object store streamed from the files."""

from __future__ import annotations

import csv
import heapq
import os
from collections.abc import Callable, Iterable
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
#: How a cell a spreadsheet would take for a formula begins (OWASP's "CSV injection"
#: list): such a cell is written with a leading apostrophe, which a spreadsheet shows as
#: text. Only loan keys can begin so (reasons and matured fields are montemap's own text
#: or validated values); a key like ``=cmd|' /C calc'!A0`` must not run when the list is
#: opened.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    store: ObjectStore, params: RunParams, batches: Iterable[BatchInfo], files: RunFiles
) -> None:
    """``rejects.csv`` (sorted by key, then reason) and ``matured.csv`` (by key, then the
    batches' order), streamed: a merge of the batches' records in the order of their
    smallest keys, so only the records of batches whose key ranges overlap the merge's
    frontier are held, however many batches one straddling batch's range spans.

    ``batches``: those with a key range, by smallest key, then position (as
    ``BatchTable.infos(BatchTable.key_order())`` gives them), taken one at a time.
    """
    with (
        open(files.path("rejects.csv"), "w", newline="", encoding="utf-8") as rf,
        open(files.path("matured.csv"), "w", newline="", encoding="utf-8") as mf,
    ):
        rejects, matured = _row_writer(rf), _row_writer(mf)
        rejects(["key", "reason"])
        matured(MATURED_COLUMNS)
        found: list[tuple[str, str]] = []  # a heap
        gone: list[tuple[str, int, int, list[Any]]] = []  # a heap: key, batch, index, row
        for info in batches:
            frontier = info.low or ""
            _emit_below(found, frontier, rejects)
            _emit_below(gone, frontier, lambda item: matured(item[3]))
            meta = read_meta(store, params, info.batch_id)
            for r in meta["rejects"]:
                heapq.heappush(found, (r["key"], r["reason"]))
            for i, r in enumerate(meta.get("matured_loans", [])):
                row = [r.get(c, "") for c in MATURED_COLUMNS]
                heapq.heappush(gone, (str(r["key"]), info.position, i, row))
        _emit_below(found, None, rejects)
        _emit_below(gone, None, lambda item: matured(item[3]))


def spreadsheet_text(cell: Any) -> Any:
    """``cell``, or ``'`` + it where a spreadsheet would read it as a formula."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _row_writer(file: Any) -> Callable[[Iterable[Any]], object]:
    """Rows written to ``file`` as CSV, each cell :func:`spreadsheet_text`. A row with a
    carriage return in a cell is written with every cell quoted: Python 3.11's writer
    quotes only the line terminator's characters (``\\n`` here), and a bare ``\\r`` would
    end the row for every reader."""
    plain = csv.writer(file, lineterminator="\n")
    quoted = csv.writer(file, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def write(row: Iterable[Any]) -> object:
        cells = [spreadsheet_text(c) for c in row]
        if any(isinstance(c, str) and "\r" in c for c in cells):
            return quoted.writerow(cells)
        return plain.writerow(cells)

    return write


def _emit_below(heap: list[Any], bound: str | None, write: Callable[[Any], object]) -> None:
    """Write (smallest first) and drop the heap's entries whose key is below ``bound``
    (all of them when ``None``)."""
    while heap and (bound is None or str(heap[0][0]) < bound):
        write(heapq.heappop(heap))


def publish_store(store: ObjectStore, params: RunParams, run_dir: Path) -> None:
    """Upload the run folder's files under the run prefix, streamed, ``summary.json`` last
    (the local store copies each file in the kernel and leaves its MD5 until asked)."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.exists():
            with open(path, "rb") as f:
                store.put_stream_no_etag(params.output_bucket, params.run_key(name), f)
