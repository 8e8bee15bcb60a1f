"""S3's rules for a tag set, shared by the S3 API and CloudFormation's bucket ``Tags``.

A tag set is at most 10 tags on an object and 50 on a bucket; a key is 1 to 128
characters, a value 0 to 256, both letters, digits, spaces and ``+ - = . _ : / @``;
keys are unique and may not start with ``aws:``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

OBJECT_TAG_LIMIT = 10
BUCKET_TAG_LIMIT = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_SYMBOLS = frozenset("+-=._:/@")


def _allowed(text: str) -> bool:
    """Letters, numbers, separators (spaces) and ``+ - = . _ : / @`` only (S3's pattern)."""
    return all(ch in _SYMBOLS or unicodedata.category(ch)[0] in ("L", "N", "Z") for ch in text)


def tag_problem(tags: Sequence[tuple[str, str]], limit: int, *, what: str) -> str | None:
    """What the first broken rule is, in S3's words (``None``: the tags keep every rule)."""
    if len(tags) > limit:
        return f"{what} tags cannot be greater than {limit}"
    seen: set[str] = set()
    for key, value in tags:
        if not key or len(key) > MAX_KEY_LENGTH:
            return (
                f"The TagKey you have provided is invalid: {key!r} "
                f"(1 to {MAX_KEY_LENGTH} characters)"
            )
        if len(value) > MAX_VALUE_LENGTH:
            return (
                f"The TagValue you have provided is too long, max {MAX_VALUE_LENGTH} (key {key!r})"
            )
        if not _allowed(key):
            return f"The TagKey you have provided is invalid: {key!r}"
        if not _allowed(value):
            return f"The TagValue you have provided is invalid: {value!r}"
        if key.lower().startswith("aws:"):
            return f"Your TagKey cannot be prefixed with aws: ({key!r})"
        if key in seen:
            return f"Cannot provide multiple Tags with the same key {key!r}"
        seen.add(key)
    return None
