"""Multipart uploads of the local backend, staged beside the buckets.

An upload lives in ``<root>/.montemap-uploads/<bucket>/<upload id>/``: an
``upload.json`` with the key, the metadata and the start time, and one file
per part (``part-00001``...), each written atomically with its MD5 attached
(:mod:`montemap.storage.local_meta`). Completing an upload writes the object
as any other write does (a temporary file, then a rename), then removes the
staging directory. The staging root's name is not a valid bucket name, so it
never shows among the buckets.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from montemap.storage.base import (
    MIN_PART_SIZE,
    ObjectMeta,
    ObjectStoreError,
    PartInfo,
    UploadInfo,
)
from montemap.storage.local_meta import (
    HashingWriter,
    decode_grants,
    decode_tags,
    encode_record,
    file_md5,
    multipart_etag,
    read_record,
    store_record,
)

#: The directory under the store's root that holds uploads in progress.
UPLOADS_DIR = ".montemap-uploads"
MAX_PART_NUMBER = 10000

_UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_PART_RE = re.compile(r"^part-(\d{5})$")
#: Names of an upload's directory while it is made (then ``<pid in hex>-<id>``) and while
#: it is removed, and of a part while it is written (then ``<pid in hex>-``): what a
#: killed process leaves of them is swept at start (:mod:`montemap.storage.local_leftovers`).
NEW_PREFIX = ".new-"
GONE_PREFIX = ".gone-"
PART_PREFIX = ".part-"


@dataclass(frozen=True)
class CompletionPlan:
    """What completing an upload writes: the part files in order, the metadata, the ETag."""

    paths: list[Path]
    meta: ObjectMeta
    etag: str


def _no_upload(bucket: str, key: str, upload_id: str) -> ObjectStoreError:
    return ObjectStoreError(
        "NoSuchUpload",
        f"no multipart upload {upload_id!r} of s3://{bucket}/{key} (it may have been "
        "completed or aborted)",
        bucket=bucket,
        key=key,
    )


def _failed(what: str, bucket: str, key: str, exc: OSError) -> ObjectStoreError:
    code = "AccessDenied" if isinstance(exc, PermissionError) else "InternalError"
    return ObjectStoreError(code, f"{what} failed: {exc.strerror or exc}", bucket=bucket, key=key)


def _invalid_part(bucket: str, key: str, message: str) -> ObjectStoreError:
    return ObjectStoreError("InvalidPart", message, bucket=bucket, key=key)


class LocalUploads:
    """The multipart uploads staged under ``<root>/.montemap-uploads``."""

    def __init__(self, root: Path) -> None:
        self.base = root / UPLOADS_DIR

    def has_uploads(self, bucket: str) -> bool:
        """Whether ``bucket`` has an upload in progress (one :meth:`listing` shows: what a
        killed or failed write left half-made is not one, and blocks nothing)."""
        return bool(self.listing(bucket))

    def create(self, bucket: str, key: str, meta: ObjectMeta) -> str:
        """Start an upload: its directory appears whole (made under a name no upload
        has, ``upload.json`` written, then renamed), or not at all."""
        upload_id = secrets.token_hex(16)
        staging = self.base / bucket
        new = staging / f"{NEW_PREFIX}{os.getpid():x}-{upload_id}"
        record = {
            "key": key,
            "type": meta.content_type,
            "meta": dict(meta.metadata),
            "headers": dict(meta.headers),
            "tags": [list(pair) for pair in meta.tags],
            "acl": [list(grant) for grant in meta.acl],
            "initiated": time.time(),
        }
        try:
            new.mkdir(parents=True)
            (new / "upload.json").write_text(json.dumps(record), encoding="utf-8")
            os.rename(new, staging / upload_id)
        except OSError as exc:
            shutil.rmtree(new, ignore_errors=True)
            raise _failed(f"starting a multipart upload of s3://{bucket}/{key}", bucket, key, exc)
        return upload_id

    def _directory(self, bucket: str, key: str, upload_id: str) -> tuple[Path, dict[str, object]]:
        if not isinstance(upload_id, str) or not _UPLOAD_ID_RE.match(upload_id):
            raise _no_upload(bucket, key, str(upload_id))
        directory = self.base / bucket / upload_id
        try:
            record = json.loads((directory / "upload.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise _no_upload(bucket, key, upload_id)
        if not isinstance(record, dict) or record.get("key") != key:
            raise _no_upload(bucket, key, upload_id)
        return directory, record

    def put_part(self, bucket: str, key: str, upload_id: str, number: int, stream: BinaryIO) -> str:
        if isinstance(number, bool) or not 1 <= number <= MAX_PART_NUMBER:
            raise ObjectStoreError(
                "InvalidArgument",
                f"part number must be an integer from 1 to {MAX_PART_NUMBER}, got {number!r}",
                bucket=bucket,
                key=key,
            )
        directory, _ = self._directory(bucket, key, upload_id)
        what = f"writing part {number} of s3://{bucket}/{key}"
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{PART_PREFIX}{os.getpid():x}-")
        except OSError as exc:
            raise _failed(what, bucket, key, exc)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = HashingWriter(f)
                shutil.copyfileobj(stream, cast(BinaryIO, writer), 1 << 20)
                etag = writer.md5.hexdigest()
                store_record(f.fileno(), encode_record(etag, None))
            os.replace(tmp, directory / f"part-{number:05d}")
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if isinstance(exc, OSError):
                raise _failed(what, bucket, key, exc)
            raise
        return etag

    def parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        directory, _ = self._directory(bucket, key, upload_id)
        out = []
        for entry in os.scandir(directory):
            match = _PART_RE.match(entry.name)
            if match is None:
                continue
            st = entry.stat()
            etag, _ = read_record(entry.path)
            out.append(
                PartInfo(int(match.group(1)), st.st_size, etag or file_md5(entry.path), st.st_mtime)
            )
        return sorted(out, key=lambda p: p.number)

    def plan(
        self, bucket: str, key: str, upload_id: str, wanted: list[tuple[int, str]]
    ) -> CompletionPlan:
        """Check the client's part list against what was uploaded (S3's rules)."""
        directory, record = self._directory(bucket, key, upload_id)
        if not wanted:
            raise ObjectStoreError(
                "MalformedXML", "CompleteMultipartUpload names no parts", bucket=bucket, key=key
            )
        uploaded = {part.number: part for part in self.parts(bucket, key, upload_id)}
        numbers = [number for number, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise ObjectStoreError(
                "InvalidPartOrder",
                "the list of parts was not in ascending order (or named a part twice)",
                bucket=bucket,
                key=key,
            )
        md5s: list[str] = []
        for index, (number, etag) in enumerate(wanted):
            part = uploaded.get(number)
            if part is None or part.etag != etag.strip('"'):
                raise _invalid_part(
                    bucket,
                    key,
                    f"part {number} was not uploaded or its ETag is not {etag!r}",
                )
            if index < len(wanted) - 1 and part.size < MIN_PART_SIZE:
                raise ObjectStoreError(
                    "EntityTooSmall",
                    f"part {number} is {part.size} bytes; every part but the last must be "
                    f"at least {MIN_PART_SIZE} bytes",
                    bucket=bucket,
                    key=key,
                )
            md5s.append(part.etag)
        metadata = record.get("meta")
        content_type = record.get("type")
        headers = record.get("headers")
        meta = ObjectMeta(
            content_type if isinstance(content_type, str) else "",
            {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
            {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
            decode_tags(record.get("tags")),
            decode_grants(record.get("acl")),
        )
        paths = [directory / f"part-{number:05d}" for number, _ in wanted]
        return CompletionPlan(paths, meta, multipart_etag(md5s))

    def discard(self, bucket: str, upload_id: str) -> None:
        """Remove a completed or aborted upload's staging directory: renamed first, so
        that a process killed while removing it leaves no upload half there."""
        if not _UPLOAD_ID_RE.match(upload_id):
            return
        gone = self.base / bucket / f"{GONE_PREFIX}{upload_id}"
        try:
            os.rename(self.base / bucket / upload_id, gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    def remove_leftovers(self, bucket: str) -> None:
        """Remove what killed or failed writes left in ``bucket``'s staging directory
        (half-made or half-removed uploads, part files), and the directory once empty.
        Called when the bucket is deleted, with no upload in progress."""
        staging = self.base / bucket
        try:
            entries = list(os.scandir(staging))
        except (FileNotFoundError, NotADirectoryError):
            return
        uploads = {upload.upload_id for upload in self.listing(bucket)}
        for entry in entries:
            if entry.name not in uploads:
                shutil.rmtree(entry.path, ignore_errors=True)
        try:
            staging.rmdir()
        except OSError:
            pass

    def listing(self, bucket: str) -> list[UploadInfo]:
        """Every upload of ``bucket`` in progress, by key, then by start time."""
        try:
            entries = list(os.scandir(self.base / bucket))
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for entry in entries:
            if not _UPLOAD_ID_RE.match(entry.name):
                continue
            try:
                record = json.loads(Path(entry.path, "upload.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # being created or removed
            key, initiated = record.get("key"), record.get("initiated")
            if isinstance(key, str) and isinstance(initiated, int | float):
                out.append(UploadInfo(key, entry.name, float(initiated)))
        return sorted(out, key=lambda u: (u.key, u.initiated, u.upload_id))

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        self._directory(bucket, key, upload_id)
        self.discard(bucket, upload_id)
