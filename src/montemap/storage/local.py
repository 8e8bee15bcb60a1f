"""Local directory backend: bucket ``B`` is ``<root>/B``, key ``k`` the file below it."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from montemap.storage.base import ListPage, ObjectInfo, ObjectStoreError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")


def validate_bucket(bucket: str) -> None:
    """Refuse bucket names S3 would refuse (and anything path-like)."""
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise ObjectStoreError(
            "InvalidBucketName", f"invalid bucket name {bucket!r}", bucket=bucket
        )


def validate_key(key: str) -> None:
    """Refuse keys that could escape the bucket's directory or are not files."""
    if not key or len(key.encode()) > 1024:
        raise ObjectStoreError("InvalidKey", f"invalid object key {key!r}", key=key)
    parts = key.split("/")
    if key.startswith("/") or "\x00" in key or "\\" in key or any(
        p in ("", ".", "..") for p in parts
    ):
        raise ObjectStoreError(
            "InvalidKey",
            f"object key {key!r} must be relative, without empty, '.' or '..' segments",
            key=key,
        )


class LocalObjectStore:
    """Buckets as directories under ``root``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- helpers
    def _bucket_dir(self, bucket: str, *, must_exist: bool = True) -> Path:
        validate_bucket(bucket)
        path = self.root / bucket
        if must_exist and not path.is_dir():
            raise ObjectStoreError(
                "NoSuchBucket", f"bucket {bucket!r} does not exist", bucket=bucket
            )
        return path

    def _path(self, bucket: str, key: str) -> Path:
        validate_key(key)
        return self._bucket_dir(bucket) / key

    def _missing(self, bucket: str, key: str) -> ObjectStoreError:
        return ObjectStoreError(
            "NoSuchKey", f"no object s3://{bucket}/{key}", bucket=bucket, key=key
        )

    # -- interface
    def create_bucket(self, bucket: str) -> None:
        self._bucket_dir(bucket, must_exist=False).mkdir(parents=True, exist_ok=True)

    def open(self, bucket: str, key: str) -> BinaryIO:
        path = self._path(bucket, key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(bucket, key)

    def get(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key) as f:
            return f.read()

    def put(self, bucket: str, key: str, data: bytes) -> str:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return hashlib.md5(data, usedforsecurity=False).hexdigest()

    def head(self, bucket: str, key: str) -> ObjectInfo:
        path = self._path(bucket, key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(bucket, key)
        if not path.is_file():
            raise self._missing(bucket, key)
        return ObjectInfo(key, st.st_size, _etag(st), st.st_mtime)

    def delete(self, bucket: str, key: str) -> None:
        try:
            self._path(bucket, key).unlink()
        except FileNotFoundError:
            pass

    def list_page(
        self, bucket: str, prefix: str = "", *, token: str | None = None, max_keys: int = 1000
    ) -> ListPage:
        base = self._bucket_dir(bucket)
        out: list[ObjectInfo] = []
        # Walk in lexicographic key order; only descend into directories that can
        # hold keys after ``token`` and under ``prefix``.
        for key, path in _walk_sorted(base, ""):
            if not key.startswith(prefix):
                if key > prefix and not prefix.startswith(key[: len(prefix)]):
                    if key[: len(prefix)] > prefix:
                        break
                continue
            if token is not None and key <= token:
                continue
            st = path.stat()
            out.append(ObjectInfo(key, st.st_size, _etag(st), st.st_mtime))
            if len(out) >= max_keys:
                return ListPage(out, key)
        return ListPage(out, None)


def _etag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


def _walk_sorted(directory: Path, rel: str):  # type: ignore[no-untyped-def]
    """Yield (key, path) of every file below ``directory`` in S3 key order."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    # S3 orders keys by bytes; a directory "a" holds keys "a/..." which sort by "a/".
    named = []
    for e in entries:
        if e.name.startswith(".tmp-"):
            continue
        sort_name = e.name + "/" if e.is_dir(follow_symlinks=False) else e.name
        named.append((sort_name, e))
    named.sort(key=lambda t: t[0].encode())
    for sort_name, e in named:
        if e.is_dir(follow_symlinks=False):
            yield from _walk_sorted(Path(e.path), rel + sort_name)
        elif e.is_file(follow_symlinks=False):
            yield rel + e.name, Path(e.path)
