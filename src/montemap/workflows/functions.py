"""The "Lambda" functions the shipped workflows call.

Each is a plain ``handler(event, context)``: locally the engine runs it in its
process pool (registered by name in :mod:`montemap.assembly`); on AWS the same
function is packaged as a Lambda function. They find the object store through
the environment (``MONTEMAP_DATA_DIR`` locally, ``MONTEMAP_STORE`` such as
``s3://`` on AWS), as the batch handler does.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from montemap.credit.batch import default_store
from montemap.credit.generator import (
    BLOCK,
    LAYOUTS,
    Layout,
    check_seed,
    generate_rows,
    layout_columns,
)
from montemap.credit.params import BatchInputError, RunParams, parse_batch_input
from montemap.credit.portfolio import (
    DATA_PREFIX,
    INVENTORY_PREFIX,
    InventoryFile,
    data_key,
    inventory_manifest,
)
from montemap.credit.reduce import RunOutputs, arrow_pool, publish_store, reduce_run
from montemap.scratch_dirs import owned_temp_dir
from montemap.storage import ObjectStore, iter_keys

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class FunctionInputError(BatchInputError):
    """An event a workflow function cannot use (reported as ``Montemap.InvalidBatch``)."""


def _field(event: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = event.get(name, default)
    if (
        value is None
        or (isinstance(value, bool) and kind is not bool)
        or not isinstance(value, kind)
    ):
        raise FunctionInputError(f"event field {name!r} must be a {kind.__name__}, got {value!r}")
    return value


def _store(context: Any) -> ObjectStore:
    return default_store()


# --------------------------------------------------------------------------- data processing


def partition_inventory(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Split an S3 Inventory into ``partitions`` manifests, keeping 1 object in ``sample_every``.

    Writes ``runs/<run>/partitions/manifest-<i>.json`` (and, when sampling, the
    sampled inventory files) to the results bucket; returns the manifests as
    ``{"bucket", "key"}`` items for the Distributed Maps, and the object count.
    """
    store = _store(context)
    source = _field(event, "source_bucket", str)
    manifest_key = _field(event, "inventory_manifest", str, "inventory/manifest.json")
    results = _field(event, "results_bucket", str)
    run = _field(event, "run_name", str)
    if not _RUN_NAME.match(run):
        raise FunctionInputError(f"run_name {run!r} is not a valid name")
    partitions = _field(event, "partitions", int, 1)
    sample_every = _field(event, "sample_every", int, 1)
    if partitions < 1 or sample_every < 1:
        raise FunctionInputError("partitions and sample_every must be at least 1")
    manifest = json.loads(store.get(source, manifest_key))
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        raise FunctionInputError(f"s3://{source}/{manifest_key} lists no inventory files")
    inventory_bucket = str(manifest.get("destinationBucket", source)).removeprefix("arn:aws:s3:::")
    store.create_bucket(results)
    prefix = f"runs/{run}/partitions"
    objects = 0
    if sample_every > 1:
        files, objects = _sample(store, inventory_bucket, files, results, prefix, sample_every)
        inventory_bucket = results
    else:
        objects = sum(_rows(store, inventory_bucket, f["key"]) for f in files)
    groups: list[list[dict[str, Any]]] = [[] for _ in range(min(partitions, len(files)))]
    for index, entry in enumerate(files):
        groups[index % len(groups)].append(entry)
    out = []
    for index, group in enumerate(groups):
        doc = {**manifest, "destinationBucket": f"arn:aws:s3:::{inventory_bucket}", "files": group}
        key = f"{prefix}/manifest-{index}.json"
        store.put(results, key, json.dumps(doc, indent=1).encode())
        out.append({"bucket": results, "key": key})
    return {"manifests": out, "objects": objects}


def _rows(store: ObjectStore, bucket: str, key: str) -> int:
    """The lines of a gzipped inventory file (a last one without its newline included),
    counted in 1 MiB blocks: a fifth of the CPU of iterating over its lines."""
    rows = 0
    last = b"\n"
    with store.open(bucket, key) as raw, gzip.open(raw, "rb") as f:
        while block := f.read(1 << 20):
            rows += block.count(b"\n")
            last = block[-1:]
    return rows if last == b"\n" else rows + 1


def _sample(
    store: ObjectStore,
    bucket: str,
    files: list[dict[str, Any]],
    results: str,
    prefix: str,
    every: int,
) -> tuple[list[dict[str, Any]], int]:
    sampled: list[dict[str, Any]] = []
    kept = position = 0
    for index, entry in enumerate(files):
        buffer = io.BytesIO()
        with (
            store.open(bucket, entry["key"]) as raw,
            gzip.open(raw, "rb") as src,
            gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as dst,
        ):
            for line in src:
                if position % every == 0:
                    dst.write(line)
                    kept += 1
                position += 1
        body = buffer.getvalue()
        key = f"{prefix}/sampled-{index:05d}.csv.gz"
        store.put(results, key, body)
        sampled.append(
            {
                "key": key,
                "size": len(body),
                "MD5checksum": hashlib.md5(body, usedforsecurity=False).hexdigest(),
            }
        )
    return sampled, kept


def reduce_and_report(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Reduce a run's batches into summary.json, loans.parquet, rejects.csv (and report.html).

    The files go to ``runs/<run>/`` in the results bucket and, on a local
    deployment, also to ``<data-dir>/runs/<run>/`` with the HTML report.
    """
    store = _store(context)
    results = _field(event, "results_bucket", str)
    run = _field(event, "run_name", str)
    if not _RUN_NAME.match(run):
        raise FunctionInputError(f"run_name {run!r} is not a valid name")
    fields = {
        "output_bucket": results,
        "output_prefix": f"runs/{run}",
        **{
            k: event[k]
            for k in ("shocks_bp", "paths", "seed", "as_of", "cutoff", "estimator")
            if k in event
        },
    }
    params, _ = parse_batch_input(fields)
    data_dir = os.environ.get("MONTEMAP_DATA_DIR")
    local_dir = Path(data_dir) / "runs" / run if data_dir else None
    report = None
    with owned_temp_dir("montemap-run-") as tmp:
        # streaming: the files are written as the batches are read, then uploaded from disk;
        # when no loan could be simulated, rejects.csv and matured.csv stay to show why
        run_dir = local_dir if local_dir is not None else Path(tmp)
        with arrow_pool():  # as in ``montemap simulate``: less freed memory kept resident
            outputs = reduce_run(store, params, out_dir=run_dir, report_figures=bool(local_dir))
            if local_dir is None:
                publish_store(store, params, run_dir)
            else:
                report = _publish_with_report(store, params, local_dir, outputs)
    summary = outputs.summary
    return {
        "run": run,
        "loans": summary["loans"],
        "rejected": summary["rejected"],
        "output_dir": str(local_dir) if local_dir else f"s3://{results}/runs/{run}/",
        "report": report,
        "scenarios": [
            {k: sc[k] for k in ("shock_bp", "expected_loss", "var", "es", "defaults_flagged")}
            for sc in summary["scenarios"]
        ],
    }


def _publish_with_report(
    store: ObjectStore, params: RunParams, run_dir: Path, outputs: RunOutputs
) -> str | None:
    """Upload the run folder's files and write its ``report.html`` at the same time: the
    upload (a copy and an MD5 of ~400 MB at 500,000 loans) runs on a thread of its own,
    mostly without the GIL, while the report is made; the upload's error, if any, is
    raised once both are done. Returns the report's path (``None`` when not written)."""
    from montemap.credit.simulate import write_html_report

    failed: list[BaseException] = []

    def upload() -> None:
        try:
            publish_store(store, params, run_dir)
        except BaseException as exc:  # raised on the calling thread
            failed.append(exc)

    thread = threading.Thread(target=upload, name="reduce-publish", daemon=True)
    thread.start()
    try:
        written = write_html_report(run_dir, outputs.loan_figures)
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return str(written) if written else None


# --------------------------------------------------------------------------- data generation


def _generation(event: Mapping[str, Any]) -> tuple[str, int, Layout, int, dt.date]:
    bucket = _field(event, "bucket", str)
    loans = _field(event, "loans", int)
    layout = _field(event, "layout", str, "realistic")
    if layout not in LAYOUTS:
        raise FunctionInputError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    layout = cast(Layout, layout)
    seed = check_seed(_field(event, "seed", int, 0))
    try:
        as_of = dt.date.fromisoformat(_field(event, "as_of", str))
    except ValueError:
        raise FunctionInputError(f"as_of must be YYYY-MM-DD, got {event.get('as_of')!r}")
    if loans < 1:
        raise FunctionInputError("loans must be at least 1")
    return bucket, loans, layout, seed, as_of


def seed_portfolio(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The seed file: one item per block of loans, read by the generation Distributed Maps."""
    store = _store(context)
    bucket, loans, layout, seed, as_of = _generation(event)
    store.create_bucket(bucket)
    parts = [
        {
            "bucket": bucket,
            "part": index,
            "start": start,
            "count": min(BLOCK, loans - start),
            "loans": loans,
            "layout": layout,
            "seed": seed,
            "as_of": as_of.isoformat(),
        }
        for index, start in enumerate(range(0, loans, BLOCK))
    ]
    key = "seed/parts.json"
    store.put(bucket, key, json.dumps(parts).encode())
    return {"bucket": bucket, "seed_key": key, "parts": len(parts)}


def _part(event: Mapping[str, Any]) -> tuple[str, int, Layout, int, dt.date, int, int, int]:
    bucket, loans, layout, seed, as_of = _generation(event)
    part = _field(event, "part", int)
    start = _field(event, "start", int)
    count = _field(event, "count", int)
    if start < 0 or count < 1 or start + count > loans:
        raise FunctionInputError(f"part {part}: start {start} + count {count} outside 0..{loans}")
    return bucket, loans, layout, seed, as_of, part, start, count


def _objects(event: Mapping[str, Any]) -> tuple[str, list[tuple[str, bytes]], int]:
    bucket, loans, layout, seed, as_of, part, start, count = _part(event)
    header = ",".join(layout_columns(layout))
    rows = generate_rows(layout, seed, start, count, as_of).to_pylist()
    out = []
    for offset, row in enumerate(rows):
        key = data_key(start + offset + 1, loans)
        out.append((key, f"{header}\n{row}\n".encode()))
    return bucket, out, part


def generate_loans(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Write one block of loan objects (``data/data-gen-NNNNNN.csv``)."""
    store = _store(context)
    bucket, objects, part = _objects(event)
    for key, body in objects:
        store.put(bucket, key, body)
    return {"part": part, "written": len(objects)}


def build_inventory(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Write the S3 Inventory file of one block (gzip CSV ``"Bucket","Key","Size"``)."""
    store = _store(context)
    bucket, objects, part = _objects(event)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz:
        for key, body in objects:
            gz.write(f'"{bucket}","{key}","{len(body)}"\n'.encode())
    data = buffer.getvalue()
    key = f"{INVENTORY_PREFIX}loans-{part:05d}.csv.gz"
    store.put(bucket, key, data)
    return {"part": part, "key": key, "rows": len(objects)}


def write_manifest(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Write ``inventory/manifest.json`` (and its checksum) over the inventory files."""
    store = _store(context)
    bucket = _field(event, "bucket", str)
    try:
        as_of = dt.date.fromisoformat(_field(event, "as_of", str))
    except ValueError:
        raise FunctionInputError(f"as_of must be YYYY-MM-DD, got {event.get('as_of')!r}")
    files = []
    for key in iter_keys(store, bucket, INVENTORY_PREFIX + "loans-"):
        body = store.get(bucket, key)
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        rows = len(gzip.decompress(body).splitlines())
        files.append(InventoryFile(key, len(body), md5, rows))
    if not files:
        raise FunctionInputError(f"no inventory files under s3://{bucket}/{INVENTORY_PREFIX}")
    created = dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC)
    manifest = inventory_manifest(bucket, files, created)
    store.put(bucket, INVENTORY_PREFIX + "manifest.json", manifest)
    checksum = hashlib.md5(manifest, usedforsecurity=False).hexdigest()
    store.put(bucket, INVENTORY_PREFIX + "manifest.checksum", checksum.encode() + b"\n")
    return {
        "bucket": bucket,
        "manifest": INVENTORY_PREFIX + "manifest.json",
        "files": len(files),
        "objects": sum(f.rows for f in files),
        "data_prefix": DATA_PREFIX,
    }
