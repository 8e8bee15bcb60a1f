"""The source an ``x-amz-copy-source`` names (CopyObject, UploadPartCopy).

``[/]bucket/key[?versionId=id]``, the bucket and key URL-encoded as S3 asks:
the percent escapes are decoded to bytes, which must be UTF-8 (S3: 400
``InvalidArgument``, "Invalid copy source encoding."), and a value that is not
``bucket/key`` is ``InvalidArgument`` too. Objects here have one version,
``null``: another version id, or an empty one, is ``InvalidArgument``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from montemap.s3api.errors import S3Error

#: A ``%`` not followed by two hex digits: not URL-encoding.
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_VERSION = "?versionId="


def copy_source(header: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``x-amz-copy-source`` (``[/]bucket/key``, URL-encoded, with
    ``?versionId=null`` at most: objects here have no other version)."""
    path, versioned, version = header.partition(_VERSION)
    if versioned:
        wanted = _decoded(version)
        if wanted != "null":
            raise S3Error(
                "InvalidArgument",
                f"Invalid version id specified: {wanted!r} (objects here have only the "
                "'null' version)",
            )
    bucket, _, key = _decoded(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey "
            f"(got {header[:200]!r})",
        )
    return bucket, key


def _decoded(text: str) -> str:
    """``text`` (a header value: latin-1 text of its bytes) URL-decoded, as UTF-8."""
    raw = text.encode("latin-1", "replace")
    if b"%" in raw and _BAD_ESCAPE.search(raw):
        raise _bad_encoding()
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_encoding() from None


def _bad_encoding() -> S3Error:
    return S3Error("InvalidArgument", "Invalid copy source encoding.")
