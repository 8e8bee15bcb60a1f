"""Compact JSON text, the way history events, checkpoints and responses hold it.

``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` builds a new
encoder on every call; the engine encodes dozens of small documents per state
transition, where that setup costs more than the encoding. :func:`compact_encoder`
makes the C encoder once and reuses it (same output as ``json.dumps``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

#: The C accelerator (None on Python builds without it).
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def compact_encoder(default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A reusable ``json.dumps(..., separators=(",", ":"), ensure_ascii=False, default=...)``."""
    py = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=default)
    if _c_make_encoder is None:  # pragma: no cover
        return py.encode
    # No circular-reference markers: a reused markers dict could keep stale ids after a
    # failed encoding; the values encoded here come from JSON and cannot be circular.
    encode = _c_make_encoder(
        None, py.default, encode_basestring, None, ":", ",", False, False, True
    )

    def dumps(value: Any) -> str:
        if type(value) is str:
            return encode_basestring(value)
        return "".join(encode(value, 0))

    return dumps


#: ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``.
compact_dumps = compact_encoder()


#: Texts at least this long have their JSON string form remembered (:func:`json_string`).
STRING_MEMO_MIN_CHARS = 2048
#: At most this many forms are remembered, of at most this many characters in all.
STRING_MEMO_ENTRIES = 64
STRING_MEMO_CHARS = 8 * 1024 * 1024
_memo: dict[int, tuple[str, str]] = {}  # id(text) -> (text, its JSON string), oldest first
_memo_chars = [0]
_memo_lock = threading.Lock()


def json_string(text: str) -> str:
    """``text`` as a JSON string (``encode_basestring``), escaped once per large text object.

    A Distributed Map child's input (tens of KB) is escaped for GetActivityTask's answer
    and again for the ResultWriter's record: the same ``str`` object, met again while it
    is among the last few remembered (the object is held, so its id cannot be reused).
    """
    if len(text) < STRING_MEMO_MIN_CHARS or type(text) is not str:
        return encode_basestring(text)
    key = id(text)
    with _memo_lock:
        kept = _memo.get(key)
    if kept is not None and kept[0] is text:
        return kept[1]
    escaped = encode_basestring(text)
    if len(escaped) <= STRING_MEMO_CHARS // 4:
        with _memo_lock:
            old = _memo.pop(key, None)
            if old is not None:
                _memo_chars[0] -= len(old[1])
            _memo[key] = (text, escaped)
            _memo_chars[0] += len(escaped)
            while len(_memo) > STRING_MEMO_ENTRIES or _memo_chars[0] > STRING_MEMO_CHARS:
                _memo_chars[0] -= len(_memo.pop(next(iter(_memo)))[1])
    return escaped
