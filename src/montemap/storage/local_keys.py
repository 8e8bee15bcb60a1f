"""How the local backend names a key's file: the key itself, but for segments a path
cannot hold.

A key is a path below its bucket's directory, one directory per ``/``. S3 keys
may also have empty segments (``a//b``, ``/a``, a "folder" key ``a/``), ``.``
and ``..`` segments: those segments are kept as escaped names,
``.montemap-key-<hex of the segment's UTF-8>`` (so ``a/`` is the file
``a/.montemap-key-``, ``a/../b`` is ``a/.montemap-key-2e2e/b``), which no
path resolution can take out of the bucket. A segment that starts with that
prefix is escaped too, so every name reads back as one key. Listings decode
the names (:func:`segment_of`); other keys map to themselves.
"""

from __future__ import annotations

#: The name prefix of an escaped segment.
ESCAPE = ".montemap-key-"


def key_path(key: str) -> str:
    """The path, relative to the bucket's directory, of ``key``'s file."""
    padded = f"/{key}/"
    if "//" not in padded and "/./" not in padded and "/../" not in padded and ESCAPE not in key:
        return key
    return "/".join(_escaped(segment) for segment in key.split("/"))


def _escaped(segment: str) -> str:
    if segment in ("", ".", "..") or segment.startswith(ESCAPE):
        return ESCAPE + segment.encode("utf-8").hex()
    return segment


def segment_of(name: str) -> str | None:
    """The key segment a directory entry's ``name`` holds (``None``: not a key's name)."""
    if not name.startswith(ESCAPE):
        return name
    try:
        return bytes.fromhex(name[len(ESCAPE) :]).decode("utf-8")
    except ValueError:  # UnicodeDecodeError included
        return None


def needs_escape(key: str) -> bool:
    """Whether ``key``'s file is not named by the key itself."""
    return key_path(key) != key
