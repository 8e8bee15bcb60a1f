"""Compact JSON text, the way history events, checkpoints and responses hold it.

``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` builds a new
encoder on every call; the engine encodes dozens of small documents per state
transition, where that setup costs more than the encoding. :func:`compact_encoder`
makes the C encoder once and reuses it (same output as ``json.dumps``).
"""

from __future__ import annotations

import json
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
