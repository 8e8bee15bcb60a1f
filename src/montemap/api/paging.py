"""Opaque ``nextToken`` values for the List* actions.

A token records which listing it belongs to and the sort key of the last item
returned; any token that does not decode to that shape is refused with
``InvalidToken``, as AWS refuses a token it did not issue.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from montemap.errors import ApiError

T = TypeVar("T")

#: AWS's page size when ``maxResults`` is absent or 0.
DEFAULT_PAGE_SIZE = 100


def invalid_token(token: str) -> ApiError:
    return ApiError("InvalidToken", f"Invalid Token: '{token}'")


def encode(listing: str, after: str) -> str:
    raw = json.dumps({"l": listing, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode(listing: str, token: str) -> str:
    """The sort key a token resumes after; ``InvalidToken`` if it is not ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid_token(token)
    if not isinstance(data, dict) or data.get("l") != listing or not isinstance(data.get("a"), str):
        raise invalid_token(token)
    after: str = data["a"]
    return after


def scope(action: str, *request: object) -> str:
    """The listing of ``action`` for one request: the members that pick what it lists.

    A token the engine issues is a bare position ("after event 2"); bound to this
    listing (:func:`bind`) it is refused (``InvalidToken``) when given with another
    execution, state machine, filter or order, instead of answering a page of that
    other listing. Hashed, so the token stays short whatever the ARNs' lengths.
    """
    identity = json.dumps([str(value) for value in request]).encode()
    return f"{action}:{hashlib.sha256(identity).hexdigest()[:24]}"


def bind(listing: str, token: str | None) -> str | None:
    """The engine's ``token`` for the next page, as a token of ``listing``."""
    return None if token is None else encode(listing, token)


def unbind(listing: str, token: str | None) -> str | None:
    """The engine's token inside ``token``; ``InvalidToken`` unless ``listing`` issued it."""
    return None if token is None else decode(listing, token)


@contextlib.contextmanager
def resuming(token: str | None) -> Iterator[None]:
    """Around an engine listing that resumes at ``token``: ``InvalidToken`` for a position
    no listing can hold.

    Tokens are not signed, so a client can forge one that decodes to a position past
    what SQLite's integers hold (``{"after": 10**30}``); the query's ``OverflowError``
    was an internal failure (500).
    """
    try:
        yield
    except OverflowError:
        if token is None:
            raise
        raise invalid_token(token) from None


def page_size(max_results: int | None) -> int:
    return max_results or DEFAULT_PAGE_SIZE


def paginate(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    listing: str,
    max_results: int | None,
    next_token: str | None,
) -> tuple[list[T], str | None]:
    """One page of ``items`` (already sorted by ``key``) and the token for the next."""
    start = 0
    if next_token is not None:
        after = decode(listing, next_token)
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    size = page_size(max_results)
    page = list(items[start : start + size])
    more = start + size < len(items)
    return page, (encode(listing, key(page[-1])) if more and page else None)


def listed(name: str, entries: list[Any], token: str | None) -> dict[str, Any]:
    """A List* answer: ``entries`` under ``name``, and ``nextToken`` where more follow."""
    return {name: entries} if token is None else {name: entries, "nextToken": token}
