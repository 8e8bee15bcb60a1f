"""How the local backend names a key's file: the key itself, but for segments a path
cannot hold.

A key is a path below its bucket's directory, one directory per ``/``. S3 keys
may also have empty segments (``a//b``, ``/a``, a "folder" key ``a/``), ``.``
and ``..`` segments: those segments, and any that starts like the store's own file
names (``.montemap-``: escaped and long segments, temporary files), are kept as escaped names,
``.montemap-key-<hex of the segment's UTF-8>`` (so ``a/`` is the file
``a/.montemap-key-``, ``a/../b`` is ``a/.montemap-key-2e2e/b``), which no
path resolution can take out of the bucket, so every name reads back as one key
and no key hides among the store's temporary files.

A segment longer than a file name may be (255 bytes, escaped or not) is named
``.montemap-long-<SHA-256 of the segment>``, and the segment itself is kept in
the extended attribute ``user.montemap.segment`` of that file or directory
(for listings; a lookup needs only the hash). Without extended attributes such
keys are refused (``KeyTooLongError``).

Listings decode the names (:func:`segment_of`); other keys map to themselves.
"""

from __future__ import annotations

import hashlib
import os

#: The names the store gives its own files start so (escaped segments, long segments,
#: temporary files): a key segment starting so is escaped, never taken for one of them.
RESERVED = ".montemap-"
#: The name prefix of an escaped segment.
ESCAPE = ".montemap-key-"
#: The name prefix of a segment too long for a file name.
LONG = ".montemap-long-"
#: The extended attribute that holds a long segment.
SEGMENT_XATTR = "user.montemap.segment"
#: The longest file name (bytes) of the file systems montemap runs on.
NAME_MAX = 255


def key_path(key: str) -> str:
    """The path, relative to the bucket's directory, of ``key``'s file."""
    padded = f"/{key}/"
    if (
        "//" not in padded
        and "/./" not in padded
        and "/../" not in padded
        and RESERVED not in key
        and (len(key) <= NAME_MAX // 4 or not _has_long_segment(key))
    ):
        return key
    return "/".join(escaped(segment) for segment in key.split("/"))


def _has_long_segment(key: str) -> bool:
    return any(len(segment.encode("utf-8")) > NAME_MAX for segment in key.split("/"))


def escaped(segment: str) -> str:
    """The file name of one segment of a key."""
    name = segment
    if segment in ("", ".", "..") or segment.startswith(RESERVED):
        name = ESCAPE + segment.encode("utf-8").hex()
    if len(name.encode("utf-8")) > NAME_MAX:
        return LONG + hashlib.sha256(segment.encode("utf-8")).hexdigest()
    return name


def segment_of(name: str, path: str) -> str | None:
    """The key segment of the directory entry ``name`` at ``path`` (``None``: no key's)."""
    if not name.startswith(".montemap-"):
        return name
    if name.startswith(ESCAPE):
        try:
            return bytes.fromhex(name[len(ESCAPE) :]).decode("utf-8")
        except ValueError:  # UnicodeDecodeError included
            return None
    if name.startswith(LONG):
        try:
            segment = os.getxattr(path, SEGMENT_XATTR, follow_symlinks=False).decode("utf-8")
        except (OSError, ValueError):
            return None
        return segment if escaped(segment) == name else None
    return name


def long_segments(key: str) -> list[tuple[str, str]]:
    """``(relative path, segment)`` of each segment of ``key`` kept under a long name."""
    out = []
    parts: list[str] = []
    for segment in key.split("/"):
        name = escaped(segment)
        parts.append(name)
        if name.startswith(LONG):
            out.append(("/".join(parts), segment))
    return out


def label(path: str | int, segment: str) -> None:
    """Keep ``segment`` with the file or directory ``path`` that has its long name."""
    os.setxattr(path, SEGMENT_XATTR, segment.encode("utf-8"))


def needs_escape(key: str) -> bool:
    """Whether ``key``'s file is not named by the key itself."""
    return key_path(key) != key
