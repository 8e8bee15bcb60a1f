"""Validation of bucket names and object keys, shared by every backend.

Both backends apply the same rules so that a key accepted by one is accepted
by the other: S3's bucket naming rules, and keys that could never name a
path outside a bucket's directory (no absolute paths, no empty, ``.`` or
``..`` segments, no backslashes or NUL bytes, at most 1024 UTF-8 bytes).
"""

from __future__ import annotations

import re

from montemap.storage.base import ObjectStoreError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")

MAX_KEY_BYTES = 1024


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


_NEW_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
#: Prefixes and suffixes S3 reserves: no new general purpose bucket has them.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_new_bucket(bucket: object) -> str:
    """Return ``bucket`` if S3 would create a general purpose bucket of that name.

    Stricter than :func:`validate_bucket`, which also accepts the names of buckets
    made under S3's older rules (underscores): 3-63 characters of ``a-z 0-9 . -``,
    a letter or digit at each end, no ``..``, not an IP address, none of the
    prefixes and suffixes S3 reserves. Else ``InvalidBucketName``.
    """
    if not isinstance(bucket, str):
        return validate_bucket(bucket)  # refused, as any name that is not a string
    problem = None
    if not _NEW_BUCKET_RE.match(bucket):  # before the older rules, which allow '_'
        problem = "3-63 characters of a-z, 0-9, '.' and '-', a letter or digit at each end"
    elif ".." in bucket:
        problem = "no '..'"
    elif _IP_RE.match(bucket):
        problem = "it must not be formatted as an IP address"
    elif bucket.startswith(_RESERVED_PREFIXES) or bucket.endswith(_RESERVED_SUFFIXES):
        problem = "its prefix or suffix is reserved by S3"
    if problem is not None:
        raise ObjectStoreError(
            "InvalidBucketName",
            f"The specified bucket is not valid: {bucket!r} ({problem})",
            bucket=bucket,
        )
    return bucket


def validate_key(key: object) -> str:
    """Return ``key`` if it stays inside its bucket as a path, else raise ``InvalidKey``:
    an object key (:func:`validate_object_key`) with no backslash, no leading ``/`` and no
    empty, ``.`` or ``..`` segment."""
    validate_object_key(key)
    assert isinstance(key, str)
    if "\\" in key:
        raise ObjectStoreError("InvalidKey", f"object key {key!r} contains a backslash", key=key)
    if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise ObjectStoreError(
            "InvalidKey",
            f"object key {key!r} must be relative, without empty, '.' or '..' segments",
            key=key,
        )
    return key


def validate_object_key(key: object) -> str:
    """Return ``key`` if S3 would take it as an object's key, else raise ``InvalidKey``.

    What the object stores accept: 1 to 1024 UTF-8 bytes, no NUL. Empty, ``.``
    and ``..`` segments are keys like others there (the local backend escapes
    them: :mod:`montemap.storage.local_keys`). Code that makes a path of a key
    itself must use the stricter :func:`validate_key`.
    """
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
    if "\x00" in key:
        raise ObjectStoreError("InvalidKey", f"object key {key!r} contains a NUL byte", key=key)
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
