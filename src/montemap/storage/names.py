"""Validation of bucket names and object keys, shared by every backend.

Both backends apply the same rules so that a key accepted by one is accepted
by the other: S3's bucket naming rules, and keys that could never name a
path outside a bucket's directory (no absolute paths, no empty, ``.`` or
``..`` segments, no backslashes or NUL bytes, at most 1024 UTF-8 bytes, and
at most 255 between two ``/``, the file system's limit on a name, and no
segment named like the local store's temporary files).
"""

from __future__ import annotations

import re

from montemap.storage.base import ObjectStoreError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")

MAX_KEY_BYTES = 1024
#: The longest ``/``-separated segment of a key: a file or directory name (``NAME_MAX``).
MAX_SEGMENT_BYTES = 255
#: Name prefix of the local store's in-flight temporary files, which listings skip: no
#: key segment may start with it (its object would exist but never be listed).
RESERVED_SEGMENT_PREFIX = ".montemap-tmp-"


def validate_bucket(bucket: object) -> str:
    """Return ``bucket`` if it is a name S3 would accept, else raise ``InvalidBucketName``."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise ObjectStoreError(
            "InvalidBucketName",
            f"invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, '.', '-', '_', "
            "starting and ending with a letter or digit",
            bucket=bucket if isinstance(bucket, str) else "",
        )
    return bucket


def validate_key(key: object) -> str:
    """Return ``key`` if it stays inside its bucket, else raise ``InvalidKey``."""
    if not isinstance(key, str) or not key:
        raise ObjectStoreError("InvalidKey", f"object key must be a non-empty string, got {key!r}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ObjectStoreError("InvalidKey", f"object key {key!r} is not valid UTF-8", key=key)
    if size > MAX_KEY_BYTES:
        raise ObjectStoreError(
            "InvalidKey", f"object key is {size} bytes long, the limit is {MAX_KEY_BYTES}", key=key
        )
    if "\x00" in key or "\\" in key:
        raise ObjectStoreError(
            "InvalidKey", f"object key {key!r} contains a NUL byte or a backslash", key=key
        )
    parts = key.split("/")
    if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ObjectStoreError(
            "InvalidKey",
            f"object key {key!r} must be relative, without empty, '.' or '..' segments",
            key=key,
        )
    if RESERVED_SEGMENT_PREFIX in key and any(
        part.startswith(RESERVED_SEGMENT_PREFIX) for part in parts
    ):
        raise ObjectStoreError(
            "InvalidKey",
            f"object key {key!r} has a segment starting with {RESERVED_SEGMENT_PREFIX!r}, "
            "the name of the local store's temporary files (never listed)",
            key=key,
        )
    if size > MAX_SEGMENT_BYTES:
        longest = max(len(part.encode("utf-8")) for part in parts)
        if longest > MAX_SEGMENT_BYTES:
            raise ObjectStoreError(
                "InvalidKey",
                f"a segment of object key {key[:60]!r}... is {longest} bytes long, the limit is "
                f"{MAX_SEGMENT_BYTES} between two '/' (a local bucket's keys are file names)",
                key=key,
            )
    return key


def validate_prefix(prefix: object) -> str:
    """Return a listing prefix (may be empty or end with '/'); refuse NUL and non-strings."""
    if isinstance(prefix, str) and "\x00" not in prefix:
        try:
            if len(prefix.encode("utf-8")) <= MAX_KEY_BYTES:
                return prefix
        except UnicodeEncodeError:
            pass
    raise ObjectStoreError("InvalidArgument", f"invalid listing prefix {prefix!r}")


#: The most keys one listing page may hold (S3's ``MaxKeys`` ceiling).
MAX_KEYS_PER_PAGE = 1000


def validate_listing(prefix: object, token: object, max_keys: object) -> None:
    """Refuse a listing's invalid ``prefix``, ``token`` (None or a key) or ``max_keys``."""
    validate_prefix(prefix)
    if token is not None:
        validate_prefix(token)
    if (
        isinstance(max_keys, bool)
        or not isinstance(max_keys, int)
        or not 1 <= max_keys <= MAX_KEYS_PER_PAGE
    ):
        raise ObjectStoreError(
            "InvalidArgument",
            f"max_keys must be an integer from 1 to {MAX_KEYS_PER_PAGE}, got {max_keys!r}",
        )
