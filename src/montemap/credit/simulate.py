"""``montemap simulate`` on one machine: the workers' batch handler and the reduction,
run by a process pool, writing the run folder.

Sources: a generated portfolio in a data directory (the S3 Inventory manifest
of bucket ``montemap-source``, exactly what the workflow's ItemReader reads) or
a loan tape (CSV or Parquet, one row per loan). Batch outputs go to a scratch
store inside the output folder, removed once the run's files are written.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import multiprocessing
import os
import shutil
import sys
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from montemap.credit.batch import process_batch, simulate_loans, write_batch
from montemap.credit.loans import Reject, parse_records
from montemap.credit.objects import drop_after_reading
from montemap.credit.page_cache import too_large_to_cache
from montemap.credit.params import MAX_PATHS, RunParams
from montemap.credit.portfolio_lock import reading_portfolio
from montemap.credit.quality import DuplicateAccountError, check_unique_accounts
from montemap.credit.reduce import (
    NoLoansError,
    RunOutputs,
    arrow_pool,
    reduce_run,
    release_memory,
)
from montemap.credit.report_loans import Figures
from montemap.credit.tape import csv_lines, describe_read_error, is_parquet
from montemap.errors import MontemapError
from montemap.storage import LocalObjectStore, ObjectStore, ObjectStoreError, local_store

SOURCE_BUCKET = "montemap-source"
MANIFEST_KEY = "inventory/manifest.json"
WORK_DIR = ".work"
WORK_BUCKET = "montemap-results"
WORK_PREFIX = "run"
#: Batches submitted ahead per worker.
IN_FLIGHT = 4
#: Set (to anything but empty) to keep the work folder (``<out>/.work``: the batch
#: outputs, bucket ``montemap-results``, prefix ``run``) for ``bench/bench_scale.py
#: --reduce-only``; a benchmark's switch, not an option of the command.
KEEP_WORK_ENV = "MONTEMAP_KEEP_WORK"

Record = tuple[str, dict[str, str]]


class SimulateError(MontemapError):
    """A simulation that cannot start: bad source, bad options."""


# --------------------------------------------------------------------------- sources


def inventory_items(store: ObjectStore, bucket: str = SOURCE_BUCKET) -> list[dict[str, str]]:
    """The ``{"Bucket", "Key"}`` items of the S3 Inventory manifest in ``bucket``."""
    return list(iter_inventory_items(store, bucket))


def count_inventory_items(store: ObjectStore, bucket: str = SOURCE_BUCKET) -> int:
    """How many items the inventory lists (its lines; for progress, before reading them)."""
    manifest = json.loads(store.get(bucket, MANIFEST_KEY))
    total = 0
    for entry in manifest.get("files", []):
        text = gzip.decompress(store.get(bucket, entry["key"]))
        total += sum(1 for line in text.split(b"\n") if line.strip())
    return total


def iter_inventory_items(
    store: ObjectStore, bucket: str = SOURCE_BUCKET
) -> Iterator[dict[str, str]]:
    """The manifest's items, one inventory file in memory at a time."""
    where = f"s3://{bucket}/{MANIFEST_KEY}"
    try:
        manifest = json.loads(store.get(bucket, MANIFEST_KEY))
    except ObjectStoreError as exc:
        raise SimulateError(f"no portfolio inventory: {exc} (run 'montemap generate' first)")
    except ValueError as exc:
        raise SimulateError(f"{where} is not valid JSON: {exc}")
    schema = [c.strip() for c in str(manifest.get("fileSchema", "")).split(",")]
    if "Bucket" not in schema or "Key" not in schema:
        raise SimulateError(f"{where}: fileSchema {manifest.get('fileSchema')!r} lacks Bucket, Key")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise SimulateError(f"{where}: 'files' must be a list")
    for entry in files:
        key = entry.get("key") if isinstance(entry, Mapping) else None
        if not isinstance(key, str):
            raise SimulateError(f"{where}: a 'files' entry has no key")
        try:
            text = gzip.decompress(store.get(bucket, key)).decode()
        except (ObjectStoreError, OSError, UnicodeDecodeError) as exc:
            raise SimulateError(f"inventory file s3://{bucket}/{key}: {exc}")
        width, b, k = len(schema), schema.index("Bucket"), schema.index("Key")
        for line, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if len(row) != width:
                raise SimulateError(
                    f"inventory file s3://{bucket}/{key} line {line}: {len(row)} fields, "
                    f"expected {width}"
                )
            name = row[k]
            yield {"Bucket": row[b], "Key": urllib.parse.unquote(name) if "%" in name else name}


def read_tape(path: Path) -> list[Record]:
    """Rows of a CSV (optionally gzip-compressed) or Parquet tape as ``(key, fields)``;
    keys are ``<name>#<row>``. The file is opened, and its format told, as ``import``
    does (:func:`montemap.credit.tape.csv_lines`, :func:`~montemap.credit.tape.is_parquet`)."""
    if not path.is_file():
        raise SimulateError(f"loan tape {str(path)!r} does not exist")
    try:
        parquet = is_parquet(path)
    except OSError as exc:
        raise SimulateError(f"loan tape {path.name}: cannot read: {exc.strerror or exc}")
    if parquet:
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise SimulateError(f"loan tape {path.name}: not a readable Parquet file: {exc}")
        names = table.column_names
        columns = [_as_text(table.column(n).to_pylist()) for n in names]
        return [
            (f"{path.name}#{i + 1}", dict(zip(names, values, strict=True)))
            for i, values in enumerate(zip(*columns, strict=True))
        ]
    return _read_csv_tape(path)


def _read_csv_tape(path: Path) -> list[Record]:
    # lines end at LF (CRLF included) only, as ``import`` reads them: a lone carriage
    # return (classic Mac line ends) is refused by the csv module, not read as one
    with csv_lines(path) as lines:
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            raise SimulateError(
                f"loan tape {path.name}: cannot read the header row: {describe_read_error(exc)}"
            ) from None
        if not header or not any(h.strip() for h in header):
            raise SimulateError(f"loan tape {path.name}: the file is empty (no header row)")
        records: list[Record] = []
        try:
            for i, row in enumerate(reader, start=1):
                if not any(row):
                    continue
                fields = dict(zip(header, row, strict=False))
                if len(row) != len(header):
                    fields = {"__bad__": f"{len(row)} fields, the header has {len(header)}"}
                records.append((f"{path.name}#{i}", fields))
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            # the csv module has counted the line it refuses; a line that could not be
            # read or decoded is the one after those it counted (as ``import`` says it)
            line = reader.line_num + (not isinstance(exc, csv.Error))
            raise SimulateError(
                f"loan tape {path.name}: line {line}: {describe_read_error(exc)}"
            ) from None
        return records


def _as_text(values: list[Any]) -> list[str]:
    out = []
    for v in values:
        if v is None:
            out.append("")
        elif hasattr(v, "isoformat"):
            out.append(v.isoformat())
        else:
            out.append(str(v))
    return out


# --------------------------------------------------------------------------- batch jobs


def _run_store_batch(event: dict[str, Any], data_root: str, work_root: str) -> dict[str, Any]:
    return process_batch(event, LocalObjectStore(data_root), LocalObjectStore(work_root))


def _run_store_batch_dropping(
    event: dict[str, Any], data_root: str, work_root: str
) -> dict[str, Any]:
    """:func:`_run_store_batch` for a portfolio too large to stay in the page cache: each
    object's pages dropped once read (:func:`too_large_to_cache`)."""
    drop_after_reading(True)
    try:
        return _run_store_batch(event, data_root, work_root)
    finally:
        drop_after_reading(False)


def _run_tape_batch(
    records: list[Record], params: RunParams, batch_id: str, work_root: str
) -> dict[str, Any]:
    good = [(k, f) for k, f in records if "__bad__" not in f]
    loans, rejects = parse_records(good, params.as_of)
    rejects += [Reject(k, f"data row has {f['__bad__']}") for k, f in records if "__bad__" in f]
    result = simulate_loans(loans, rejects, params, batch_id=batch_id, objects=len(records))
    write_batch(LocalObjectStore(work_root), params, result)
    return {"batch_id": batch_id, "loans": result.loans, "rejected": len(result.rejects)}


def _chunks(seq: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in seq:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


Job = tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]
_T = TypeVar("_T")


def _whole(result: dict[str, Any]) -> dict[str, Any]:
    return result


def _batch_id(result: dict[str, Any]) -> str:
    return str(result["batch_id"])


def run_jobs(
    jobs: Iterable[Job],
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    total: int | None = None,
    keep: Callable[[dict[str, Any]], _T] = _whole,  # type: ignore[assignment]
) -> list[_T]:
    """Run the jobs (in-process when ``workers`` is 1); ``keep`` of each result, in job
    order. Jobs are taken lazily, at most ``IN_FLIGHT`` per worker submitted at a time,
    and only what ``keep`` returns is held, so memory grows by that much per batch."""
    results: list[_T] = []
    count = total if total is not None else 0
    if workers <= 1:
        for fn, args in jobs:
            results.append(keep(fn(*args)))
            if progress:
                progress(len(results), max(count, len(results)))
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
        window: deque[Future[dict[str, Any]]] = deque()
        pending = iter(jobs)
        while True:
            for fn, args in pending:
                window.append(pool.submit(fn, *args))
                if len(window) >= IN_FLIGHT * workers:
                    break
            if not window:
                break
            results.append(keep(window.popleft().result()))
            if progress:
                progress(len(results), max(count, len(results)))
    return results


def _pool_context() -> BaseContext:
    """``forkserver`` where the platform has it: its server process imports the batch
    code once and every worker is forked from it, where a spawned worker imports NumPy,
    PyArrow and SciPy itself (about 0.6 s of CPU each, 5 s for 8 workers on every run).
    Never a plain fork of this process (its threads and open files)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


# --------------------------------------------------------------------------- the run


def run_simulation(
    out_dir: Path,
    params: RunParams,
    *,
    data_dir: Path | None = None,
    tape: Path | None = None,
    batch_size: int = 400,
    workers: int = 1,
    report: bool = True,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunOutputs:
    """Simulate a portfolio and write the run folder; returns the outputs.

    Fails (:class:`SimulateError`, one line) on duplicate AccountIDs, when no loan
    can be simulated (``rejects.csv`` and ``matured.csv`` are still written) and,
    with ``strict``, when any record is rejected.
    """
    if (data_dir is None) == (tape is None):
        raise SimulateError("give exactly one source: a data directory or a loan tape")
    if batch_size < 1:
        raise SimulateError(f"--batch-size must be at least 1, got {batch_size}")
    if workers < 1:
        raise SimulateError(f"--workers must be at least 1, got {workers}")
    with reading_portfolio(data_dir):  # none is replaced while its objects are read
        ids, work = _run_batches(out_dir, params, data_dir, tape, batch_size, workers, progress)
    params = replace(params, output_bucket=WORK_BUCKET, output_prefix=WORK_PREFIX)
    release_memory()  # what feeding the pool freed (inventory text, events, results)
    with arrow_pool():
        try:
            if strict:
                _refuse_rejects(LocalObjectStore(work), params, ids)
            outputs = reduce_run(
                LocalObjectStore(work), params, ids, out_dir=out_dir, report_figures=report
            )
        except NoLoansError as exc:  # rejects.csv and matured.csv are written: they say why
            raise SimulateError(str(exc)) from None
        finally:
            if not os.environ.get(KEEP_WORK_ENV):
                shutil.rmtree(work, ignore_errors=True)
        if report:
            write_html_report(out_dir, outputs.loan_figures)
    return outputs


def _run_batches(
    out_dir: Path,
    params: RunParams,
    data_dir: Path | None,
    tape: Path | None,
    batch_size: int,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[str], Path]:
    """Every batch of the source through the pool into ``<out_dir>/.work``; the batch ids
    (in order) and the work folder."""
    work = out_dir / WORK_DIR
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    params = replace(params, output_bucket=WORK_BUCKET, output_prefix=WORK_PREFIX)
    jobs: Iterator[Job]
    total = None
    if data_dir is not None:
        store = local_store(data_dir)
        items = iter_inventory_items(store)
        first = next(items, None)
        if first is None:
            raise SimulateError("the portfolio inventory lists no objects")
        objects = count_inventory_items(store)
        total = math.ceil(objects / batch_size)
        items = itertools.chain([first], items)
        drop = too_large_to_cache(objects)
        jobs = _store_jobs(items, params, batch_size, store, work, drop=drop)
    else:
        assert tape is not None
        records = read_tape(tape)
        if not records:
            raise SimulateError(f"loan tape {tape.name} has no data rows")
        check_tape_accounts(tape, records)
        total = math.ceil(len(records) / batch_size)
        jobs = _tape_jobs(records, params, batch_size, work)
    return run_jobs(jobs, workers, progress, total, keep=_batch_id), work


def _store_jobs(
    items: Iterable[dict[str, str]],
    params: RunParams,
    batch_size: int,
    store: LocalObjectStore,
    work: Path,
    drop: bool = False,
) -> Iterator[Job]:
    run = _run_store_batch_dropping if drop else _run_store_batch
    for chunk in _chunks(items, batch_size):
        event = {"Items": chunk, "BatchInput": params.to_batch_input()}
        yield (run, (event, str(store.root), str(work)))


def _tape_jobs(
    records: Sequence[Record], params: RunParams, batch_size: int, work: Path
) -> Iterator[Job]:
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        batch_id = f"rows-{start + 1:09d}-{start + len(chunk):09d}"
        yield (_run_tape_batch, (chunk, params, batch_id, str(work)))


def check_tape_accounts(tape: Path, records: Sequence[Record]) -> None:
    """Refuse a tape whose AccountIDs repeat (both copies would get the same default
    paths, doubling their share of the tail), naming the first few with their rows."""
    keys: list[str] = []
    ids: list[int] = []
    for key, fields in records:
        text = next((v for k, v in fields.items() if k.strip().lower() == "accountid"), "").strip()
        if text.isdigit() and len(text) <= 19:
            keys.append(key)
            ids.append(int(text))
    try:
        check_unique_accounts(np.array(ids, dtype=np.uint64).astype(np.int64), keys)
    except DuplicateAccountError as exc:
        raise SimulateError(f"loan tape {tape.name}: {exc}") from None


def _refuse_rejects(store: LocalObjectStore, params: RunParams, ids: Sequence[str]) -> None:
    """``--strict``: fail on the first rejected record (by key), saying why."""
    first: tuple[str, str] | None = None
    count = 0
    for batch_id in ids:
        meta = json.loads(store.get(params.output_bucket, params.batch_key(batch_id, "batch.json")))
        for r in meta["rejects"]:
            count += 1
            if first is None or (r["key"], r["reason"]) < first:
                first = (r["key"], r["reason"])
    if first is not None:
        key, reason = first
        more = f" (and {count - 1:,} more)" if count > 1 else ""
        raise SimulateError(f"--strict: {key}: {reason}{more}")


def paths_for_target(summary: Mapping[str, Any], target: float, pilot: int) -> int:
    """Paths that bring the relative standard error of VaR 99.9% down to ``target``
    in every scenario, from a pilot run of ``pilot`` paths: the error falls as
    ``1/sqrt(S)``, so ``S = pilot (se/VaR / target)^2``, rounded up to a thousand, at
    least the pilot's; a target that needs more than ``MAX_PATHS`` is refused. A scenario whose VaR the pilot's paths do
    not bound (no SE) cannot be sized: an error, not a run sized by the others."""
    unknown = [
        sc["shock_bp"]
        for sc in summary["scenarios"]
        if float(sc["var"]["0.999"]) > 0 and sc["var_se"]["0.999"] is None
    ]
    if unknown:
        raise SimulateError(
            f"the pilot run of {pilot:,} paths does not bound VaR 99.9% (no standard error) "
            f"at {', '.join(f'{bp:+d} bp' for bp in unknown)}: --target-se cannot size the "
            "run; give a larger --paths for the pilot"
        )
    ratios = [
        float(sc["var_se"]["0.999"]) / float(sc["var"]["0.999"])
        for sc in summary["scenarios"]
        if float(sc["var"]["0.999"]) > 0
    ]
    if not ratios:
        raise SimulateError(
            f"the pilot run of {pilot:,} paths has VaR 99.9% of 0 in every scenario: "
            "--target-se cannot size the run; give --paths"
        )
    worst = max(ratios)
    reach = worst * math.sqrt(pilot / MAX_PATHS)  # the relative SE of MAX_PATHS paths
    if target < reach:  # compared before squaring: (worst / target) ** 2 may overflow
        raise SimulateError(
            f"--target-se {target:.2%} is out of reach: the pilot run of "
            f"{pilot:,} paths has a relative SE of VaR 99.9% of {worst:.2%}, falling as "
            f"1/sqrt(paths), so {MAX_PATHS:,} paths (the most --paths allows) reach about "
            f"{reach:.3%}; give a --target-se of at least that"
        )
    wanted = math.ceil(pilot * (worst / target) ** 2 / 1000) * 1000
    return int(min(max(wanted, pilot), MAX_PATHS))


def write_html_report(out_dir: Path, loan_figures: Figures | None = None) -> Path | None:
    """``report.html`` for the run in ``out_dir``; ``None`` (and a warning) when it fails
    (``loan_figures``: the reduction's, as ``write_report`` takes them).

    The run's data files are written before: a report that cannot be built
    (bad inputs, a full disk) is a warning, not a failed run.
    """
    from montemap.credit.report import write_report  # jinja2 only where reports are made

    try:
        return write_report(out_dir, loan_figures)
    except (MontemapError, OSError) as exc:
        print(f"montemap: warning: report.html not written: {exc}", file=sys.stderr)
        return None
