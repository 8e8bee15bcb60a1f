"""Where an execution's ``report.html`` is, from its output, and only where it may be.

An output is user data, so it cannot name just any file. Accepted:

- ``"report": "<data dir>/runs/<run>/report.html"``: the local file the
  credit workflow's reduce step writes (the path must resolve inside the
  server's ``<data dir>/runs/`` and be named ``report.html``);
- ``"output_dir": "s3://bucket/prefix/"`` or ``"summary":
  "s3://bucket/prefix/summary.json"``: ``prefix/report.html`` in the object store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from montemap.storage.base import ObjectStore, ObjectStoreError

REPORT = "report.html"


def _object(url: Any, suffix: str) -> tuple[str, str] | None:
    if not isinstance(url, str) or not url.startswith("s3://") or not url.endswith(suffix):
        return None
    bucket, _, key = url[5:].partition("/")
    if not bucket or ".." in key.split("/"):
        return None
    return bucket, key[: len(key) - len(suffix.lstrip("/"))] + REPORT


class Reports:
    """Finds and reads reports in the server's data directory and object store."""

    def __init__(self, store: ObjectStore | None, data_dir: Path) -> None:
        self.store = store
        self.runs = (data_dir / "runs").resolve()

    def file(self, output: Any) -> Path | None:
        """The local report an output names, if it is one the console may serve."""
        value = output.get("report") if isinstance(output, dict) else None
        if not isinstance(value, str) or not value:
            return None
        try:
            path = Path(value).resolve()
        except (ValueError, OSError):  # a NUL character, a loop of links: no such file
            return None
        if path.name != REPORT or not path.is_relative_to(self.runs):
            return None
        return path

    def object(self, output: Any) -> tuple[str, str] | None:
        """(bucket, key) of the report beside the output's S3 results, if named."""
        if not isinstance(output, dict):
            return None
        return _object(output.get("output_dir"), "/") or _object(
            output.get("summary"), "summary.json"
        )

    def read(self, output: Any) -> bytes | None:
        """The report's bytes, or None when the output names none or it is missing."""
        path = self.file(output)
        if path is not None:
            try:
                return path.read_bytes()
            except OSError:
                return None
        where = self.object(output)
        if where is None or self.store is None:
            return None
        try:
            return self.store.get(*where)
        except (ObjectStoreError, ValueError, OSError):
            return None

    def exists(self, output: Any) -> bool:
        path = self.file(output)
        if path is not None:
            try:
                return path.is_file()
            except OSError:  # a name too long for the file system
                return False
        where = self.object(output)
        if where is None or self.store is None:
            return False
        try:
            self.store.head(*where)
        except (ObjectStoreError, ValueError, OSError):
            return False
        return True
