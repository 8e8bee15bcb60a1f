"""The Distributed Map ``ResultWriter``: child execution results in AWS's S3 layout.

For a map run whose ARN ends in ``<id>``, results go under
``<Prefix>/<id>/`` in the destination bucket::

    manifest.json          {"DestinationBucket", "MapRunArn", "ResultFiles":
                            {"FAILED": [{"Key", "Size"}...], "PENDING": [...], "SUCCEEDED": [...]}}
    SUCCEEDED_0.json ...   child executions that succeeded
    FAILED_0.json ...      failed, timed out or aborted
    PENDING_0.json ...     never started (the map run failed first)

Each file is a JSON array (``OutputType: JSON``, the default) or JSON Lines
(``JSONL``, files named ``*.jsonl``) of the records AWS writes per child
execution; a file is closed and uploaded once it would pass
``max_file_bytes`` (AWS: 5 GB) and the next one is started. ``WriterConfig``
``Transformation`` ``NONE`` (the default when exporting) writes the whole
record, ``COMPACT`` only a successful child's output, ``FLATTEN`` the
elements of an output that is an array; failed and pending records are
always written whole. Records are spooled to local temporary files as they
arrive, so memory does not grow with the number of children. Any failure to
write raises ``StatesError("States.ResultWriterFailed", cause)``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from montemap.engine.jsontext import STRING_MEMO_MIN_CHARS, compact_dumps, json_string
from montemap.engine.records import ExecutionRecord
from montemap.errors import RESULT_WRITER_FAILED, StatesError
from montemap.storage.base import ObjectStore, ObjectStoreError
from montemap.storage.names import validate_bucket, validate_key

__all__ = [
    "MAX_RESULT_FILE_BYTES",
    "ResultWriter",
    "WriterConfig",
    "execution_result",
    "transform",
]

#: AWS splits result files at 5 GB.
MAX_RESULT_FILE_BYTES = 5 * 1000**3

#: Result file group of each child execution status.
GROUPS = {
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "TIMED_OUT": "FAILED",
    "ABORTED": "FAILED",
    "PENDING": "PENDING",
}
_GROUP_ORDER = ("FAILED", "PENDING", "SUCCEEDED")
_TRANSFORMATIONS = ("NONE", "COMPACT", "FLATTEN")
_OUTPUT_TYPES = ("JSON", "JSONL")
_RESOURCE_RE = re.compile(r"^arn:aws[a-z-]*:states:::s3:putObject$")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _fail(cause: str) -> StatesError:
    return StatesError(RESULT_WRITER_FAILED, cause)


class WriterConfig:
    """A validated ``WriterConfig``: ``Transformation`` and ``OutputType``."""

    __slots__ = ("output_type", "transformation")

    def __init__(self, transformation: str = "NONE", output_type: str = "JSON") -> None:
        if transformation not in _TRANSFORMATIONS:
            raise _fail(
                f"ResultWriter WriterConfig.Transformation must be one of "
                f"{', '.join(_TRANSFORMATIONS)}, got {transformation!r}"
            )
        if output_type not in _OUTPUT_TYPES:
            raise _fail(
                f"ResultWriter WriterConfig.OutputType must be JSON or JSONL, got {output_type!r}"
            )
        self.transformation = transformation
        self.output_type = output_type

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None, *, default: str = "NONE") -> WriterConfig:
        """From the state's ``WriterConfig`` (``None``: export defaults, NONE and JSON)."""
        if config is None:
            return cls(default)
        if not isinstance(config, Mapping):
            raise _fail(f"ResultWriter WriterConfig must be an object, got {type(config).__name__}")
        unknown = sorted(set(config) - {"Transformation", "OutputType"})
        if unknown:
            raise _fail(f"ResultWriter WriterConfig has unsupported field(s): {', '.join(unknown)}")
        return cls(config.get("Transformation", default), config.get("OutputType", "JSON"))

    def __repr__(self) -> str:
        return f"WriterConfig({self.transformation!r}, {self.output_type!r})"


def transform(status: str, record: Mapping[str, Any], transformation: str) -> Iterator[Any]:
    """The entries ``record`` contributes to the results under ``transformation``.

    Only a successful child's record is transformed; others stay whole.
    """
    if transformation == "NONE" or status != "SUCCEEDED":
        yield dict(record)
        return
    output = record.get("Output")
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except json.JSONDecodeError:
            pass  # an output that is not JSON text stays a string
    if transformation == "FLATTEN" and isinstance(output, list):
        yield from output
    else:
        yield output


def execution_result(execution: ExecutionRecord) -> dict[str, Any]:
    """The record AWS writes for one child execution, from its :class:`ExecutionRecord`."""
    record: dict[str, Any] = {
        "ExecutionArn": execution.execution_arn,
        "Input": execution.input if execution.input is not None else "null",
        "InputDetails": {"Included": True},
        "Name": execution.name,
    }
    if execution.status == "SUCCEEDED":
        record["Output"] = execution.output if execution.output is not None else "null"
        record["OutputDetails"] = {"Included": True}
    if execution.error is not None:
        record["Error"] = execution.error
    if execution.cause is not None:
        record["Cause"] = execution.cause
    record["RedriveCount"] = execution.redrive_count
    if execution.status == "SUCCEEDED":
        record["RedriveStatus"] = "NOT_REDRIVABLE"
        record["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    elif execution.redrive_status is not None:
        record["RedriveStatus"] = execution.redrive_status
        if execution.redrive_status_reason:
            record["RedriveStatusReason"] = execution.redrive_status_reason
    record["StartDate"] = _timestamp(execution.start_date)
    record["StateMachineArn"] = execution.state_machine_arn
    record["Status"] = execution.status
    if execution.stop_date is not None:
        record["StopDate"] = _timestamp(execution.stop_date)
    return record


def record_text(record: Mapping[str, Any]) -> str:
    """``compact_dumps(record)``, with a large ``Input`` escaped once (:func:`json_string`).

    A Map child's input (tens of KB) was escaped for GetActivityTask's answer already;
    the rest of the record is encoded with an empty ``Input`` that the text replaces.
    """
    text = record.get("Input")
    if type(text) is not str or len(text) < STRING_MEMO_MIN_CHARS:
        return compact_dumps(record)
    rest = compact_dumps({**record, "Input": ""})
    # A key is never inside an encoded string: there each '"' is escaped.
    at = rest.index('"Input":""') + len('"Input":')
    return rest[:at] + json_string(text) + rest[at + 2 :]


def _timestamp(when: dt.datetime) -> str:
    """``2026-11-27T10:00:00.123Z`` (UTC, milliseconds truncated); no ``strftime``: two a record."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.isoformat(timespec="milliseconds") + "Z"


class _GroupFiles:
    """The result files of one group (``SUCCEEDED``...), spooled and uploaded in turn."""

    def __init__(self, writer: ResultWriter, group: str) -> None:
        self.writer = writer
        self.group = group
        self.uploaded: list[dict[str, Any]] = []
        self._file: IO[bytes] | None = None
        self._size = 0
        self._entries = 0

    def write(self, entry: bytes) -> None:
        jsonl = self.writer.config.output_type == "JSONL"
        # Bytes this entry adds, and what closing the file would still add.
        added = len(entry) + (1 if jsonl or self._entries else 0)
        closing = 0 if jsonl else 1
        if self._entries and self._size + added + closing > self.writer.max_file_bytes:
            self.finish()
            added = len(entry) + (1 if jsonl else 0)
        if self._file is None:
            self._file = self.writer.spool()
            self._size = 0 if jsonl else 1
            if not jsonl:
                self._file.write(b"[")
        if jsonl:
            self._file.write(entry + b"\n")
        else:
            self._file.write(entry if not self._entries else b"," + entry)
        self._entries += 1
        self._size += added

    def finish(self) -> None:
        """Upload the current file, if any."""
        if self._file is None:
            return
        spool, self._file = self._file, None
        try:
            if self.writer.config.output_type == "JSON":
                spool.write(b"]")
            spool.flush()
            size = spool.tell()
            spool.seek(0)
            suffix = "jsonl" if self.writer.config.output_type == "JSONL" else "json"
            key = f"{self.writer.base_key}{self.group}_{len(self.uploaded)}.{suffix}"
            self.writer.upload(key, spool)
            self.uploaded.append({"Key": key, "Size": size})
        finally:
            spool.close()
            self._entries = 0
            self._size = 0

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ResultWriter:
    """Writes a map run's child results to ``bucket`` under ``prefix``, as they arrive.

    ``add`` as each child ends; ``close`` uploads the last files and the
    manifest and returns the Map state's result
    ``{"MapRunArn": ..., "ResultWriterDetails": {"Bucket": ..., "Key": ...}}``;
    ``abort`` drops everything not yet uploaded.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        bucket: str,
        prefix: str = "",
        map_run_arn: str,
        writer_config: Mapping[str, Any] | WriterConfig | None = None,
        spool_dir: str | Path | None = None,
        max_file_bytes: int = MAX_RESULT_FILE_BYTES,
    ) -> None:
        try:
            validate_bucket(bucket)
        except ObjectStoreError as exc:
            raise _fail(f"ResultWriter Bucket: {exc}")
        if not isinstance(prefix, str):
            raise _fail(f"ResultWriter Prefix must be a string, got {type(prefix).__name__}")
        run_id = map_run_arn.rsplit(":", 1)[-1] if isinstance(map_run_arn, str) else ""
        if not run_id or not map_run_arn.startswith("arn:"):
            raise _fail(f"ResultWriter needs the map run ARN, got {map_run_arn!r}")
        if (
            isinstance(max_file_bytes, bool)
            or not isinstance(max_file_bytes, int)
            or max_file_bytes < 3
        ):
            raise ValueError(f"max_file_bytes must be an integer >= 3, got {max_file_bytes!r}")
        self.store = store
        self.bucket = bucket
        self.map_run_arn = map_run_arn
        self.config = (
            writer_config
            if isinstance(writer_config, WriterConfig)
            else WriterConfig.parse(writer_config)
        )
        self.base_key = (
            (prefix if not prefix or prefix.endswith("/") else prefix + "/") + run_id + "/"
        )
        self.manifest_key = self.base_key + "manifest.json"
        try:
            validate_key(self.manifest_key)
        except ObjectStoreError as exc:
            raise _fail(f"ResultWriter Prefix {prefix!r} does not make a valid key: {exc}")
        self.max_file_bytes = max_file_bytes
        self._spool_dir = str(spool_dir) if spool_dir is not None else None
        self._groups = {group: _GroupFiles(self, group) for group in _GROUP_ORDER}
        self._result: dict[str, Any] | None = None
        self._closed = False
        self._check_destination()

    @classmethod
    def from_state(
        cls,
        store: ObjectStore,
        result_writer: Mapping[str, Any],
        *,
        map_run_arn: str,
        spool_dir: str | Path | None = None,
    ) -> ResultWriter:
        """From a state's ``ResultWriter`` with ``Parameters`` (or ``Arguments``) resolved.

        Needs ``Resource`` ``arn:aws:states:::s3:putObject`` and a ``Bucket``;
        a ``ResultWriter`` with only ``WriterConfig`` exports nothing (see
        :func:`transform` for shaping inline results).
        """
        if not isinstance(result_writer, Mapping):
            raise _fail("ResultWriter must be an object")
        resource = result_writer.get("Resource")
        if not isinstance(resource, str) or not _RESOURCE_RE.match(resource):
            raise _fail(
                f"ResultWriter Resource must be arn:aws:states:::s3:putObject, got {resource!r}"
            )
        params = result_writer.get("Parameters", result_writer.get("Arguments"))
        if not isinstance(params, Mapping):
            raise _fail("ResultWriter Parameters must be an object with Bucket and Prefix")
        unknown = sorted(set(params) - {"Bucket", "Prefix"})
        if unknown:
            raise _fail(f"ResultWriter Parameters has unsupported field(s): {', '.join(unknown)}")
        return cls(
            store,
            bucket=params.get("Bucket"),  # type: ignore[arg-type]
            prefix=params.get("Prefix", ""),
            map_run_arn=map_run_arn,
            writer_config=result_writer.get("WriterConfig"),
            spool_dir=spool_dir,
        )

    # ---------------------------------------------------------------- interface
    def add(self, status: str, record: Mapping[str, Any]) -> None:
        """Record one child execution that ended with ``status``."""
        if self._closed:
            raise RuntimeError("ResultWriter is closed")
        group = GROUPS.get(status)
        if group is None:
            raise ValueError(f"unknown child execution status {status!r}")
        files = self._groups[group]
        try:
            if self.config.transformation == "NONE" or status != "SUCCEEDED":
                files.write(record_text(record).encode("utf-8"))  # the common, fast path
                return
            for entry in transform(status, record, self.config.transformation):
                files.write(_ENCODER.encode(entry).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise _fail(f"A child execution result is not JSON data: {exc}")
        except OSError as exc:
            raise _fail(f"Failed to spool map run results to a local file: {exc}")

    def add_execution(self, execution: ExecutionRecord) -> None:
        """Record one ended child execution from its :class:`ExecutionRecord`."""
        self.add(execution.status, execution_result(execution))

    def close(self) -> dict[str, Any]:
        """Upload the remaining files and the manifest; returns the Map state's result."""
        if self._result is not None:
            return self._result
        if self._closed:
            raise RuntimeError("ResultWriter was aborted")
        self._closed = True
        try:
            for files in self._groups.values():
                files.finish()
        except OSError as exc:
            self.abort()
            raise _fail(f"Failed to spool map run results to a local file: {exc}")
        except BaseException:
            self.abort()
            raise
        manifest = {
            "DestinationBucket": self.bucket,
            "MapRunArn": self.map_run_arn,
            "ResultFiles": {group: files.uploaded for group, files in self._groups.items()},
        }
        try:
            self.store.put(self.bucket, self.manifest_key, json.dumps(manifest, indent=2).encode())
        except ObjectStoreError as exc:
            raise self._write_failed(self.manifest_key, exc)
        self._result = {
            "MapRunArn": self.map_run_arn,
            "ResultWriterDetails": {"Bucket": self.bucket, "Key": self.manifest_key},
        }
        return self._result

    def abort(self) -> None:
        """Drop what is not yet uploaded; writes nothing more."""
        self._closed = True
        for files in self._groups.values():
            files.discard()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ------------------------------------------------------------------ helpers
    def spool(self) -> IO[bytes]:
        """A new anonymous local file for one result file."""
        return tempfile.TemporaryFile(dir=self._spool_dir)

    def upload(self, key: str, spool: IO[bytes]) -> None:
        try:
            # No ETag: nothing reads it back (the manifest lists keys and sizes).
            self.store.put_stream_no_etag(self.bucket, key, spool)  # type: ignore[arg-type]
        except ObjectStoreError as exc:
            raise self._write_failed(key, exc)
        except OSError as exc:
            raise _fail(f"Failed to write s3://{self.bucket}/{key}: {exc}")

    def _write_failed(self, key: str, exc: ObjectStoreError) -> StatesError:
        return _fail(f"Failed to write s3://{self.bucket}/{key}: {exc.code}: {exc}")

    def _check_destination(self) -> None:
        """Fail before any child runs when the bucket cannot be used."""
        try:
            self.store.list_keys_page(self.bucket, self.base_key, max_keys=1)
        except ObjectStoreError as exc:
            raise _fail(
                f"Cannot write results to s3://{self.bucket}/{self.base_key}: {exc.code}: {exc}"
            )
