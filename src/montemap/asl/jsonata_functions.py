"""The functions Step Functions adds to JSONata, and the one it takes away.

``$partition``, ``$range``, ``$hash``, ``$random`` (with an optional seed),
``$uuid`` and ``$parse`` are bound in every evaluation; ``$eval`` is unbound,
as AWS disables it (calling it is JSONata's T1006 "Attempted to invoke a
non-function"). Numeric arguments that are not integers are truncated
towards zero, as AWS does. An undefined argument makes the result undefined,
as with JSONata's own functions.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

from jsonata.jsonata import Jsonata
from jsonata.utils import Utils

from montemap.asl.jsonata_messages import BoundExceeded
from montemap.asl.jsonata_values import to_jsonata
from montemap.errors import MontemapError

#: Most elements one ``$range`` may build: AWS refuses larger evaluations
#: with a memory-limit error (measured: 873,782 accepted, 873,783 refused).
MAX_RANGE_ELEMENTS: Final[int] = 873_782

MEMORY_LIMIT_MESSAGE: Final[str] = (
    "Expression evaluation memory limit exceeded: Check for excessive memory usage"
)

_HASHES: Final[dict[str, str]] = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


class FunctionError(MontemapError):
    """A Step Functions JSONata function refused its arguments."""


class _Native(Jsonata.JFunctionCallable):  # type: ignore[misc]
    """Adapts a Python callable to the evaluator's function protocol."""

    def __init__(self, implementation: Callable[..., Any]) -> None:
        self._implementation = implementation

    def call(self, input: Any, args: Sequence[Any] | None) -> Any:
        return self._implementation(*(args or ()))


def _defined(*values: Any) -> bool:
    return all(value is not None for value in values)


def _integer(value: float) -> int:
    return int(value)


def partition(array: Any = None, size: Any = None) -> Any:
    """``$partition(array, size)``: consecutive chunks of ``size`` items."""
    if not _defined(array, size):
        return None
    chunk = _integer(size)
    if chunk <= 0:
        raise FunctionError(f"The chunk size argument must be a positive integer, but was {size}")
    items = list(array)
    return [items[start : start + chunk] for start in range(0, len(items), chunk)]


def range_(start: Any = None, end: Any = None, step: Any = None) -> Any:
    """``$range(start, end, step)``: ``start``, ``start + step``, ... up to ``end`` inclusive.

    The result is a JSONata sequence: one element collapses to that element,
    none is undefined.
    """
    if not _defined(start, end, step):
        return None
    first, last, stride = _integer(start), _integer(end), _integer(step)
    if stride == 0 or (last - first) * stride < 0:
        return None
    count = (last - first) // stride + 1
    if count > MAX_RANGE_ELEMENTS:
        raise BoundExceeded(MEMORY_LIMIT_MESSAGE)
    return Utils.create_sequence_from_iter(range(first, first + count * stride, stride))


def hash_(data: Any = None, algorithm: Any = None) -> Any:
    """``$hash(data, algorithm)``: the lowercase hex digest of ``data``'s UTF-8 bytes."""
    if not _defined(data, algorithm):
        return None
    name = _HASHES.get(algorithm)
    if name is None:
        supported = ", ".join(_HASHES)
        raise FunctionError(
            f"The hash algorithm '{algorithm}' is not supported. Supported algorithms: {supported}"
        )
    return hashlib.new(name, data.encode("utf-8")).hexdigest()


def random_(seed: Any = None) -> float:
    """``$random([seed])``: a number in [0, 1); a seed gives Java's ``new Random(seed).nextDouble()``."""
    if seed is None:
        return random.random()
    return JavaRandom(_integer(seed)).next_double()


def uuid_() -> str:
    """``$uuid()``: a random (version 4) UUID."""
    return str(uuid.uuid4())


def parse(text: Any = None) -> Any:
    """``$parse(text)``: the JSON value ``text`` holds."""
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise FunctionError(f"The argument of $parse is not valid JSON: {error}") from None
    return to_jsonata(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class JavaRandom:
    """``java.util.Random``'s generator, so seeded ``$random`` matches AWS bit for bit."""

    _MULTIPLIER: Final = 0x5DEECE66D
    _MASK: Final = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULTIPLIER) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULTIPLIER + 0xB) & self._MASK
        return self._seed >> (48 - bits)

    def next_double(self) -> float:
        """The next double in [0, 1), as ``Random.nextDouble``."""
        return ((self._next(26) << 27) + self._next(27)) * (1.0 / (1 << 53))


#: name -> (implementation, JSONata signature)
_SIGNATURES: Final[dict[str, tuple[Callable[..., Any], str]]] = {
    "partition": (partition, "<an:a>"),
    "range": (range_, "<nnn:a>"),
    "hash": (hash_, "<ss:s>"),
    "random": (random_, "<n?:n>"),
    "uuid": (uuid_, "<:s>"),
    "parse": (parse, "<s:x>"),
}

#: Names AWS removes from JSONata.
DISABLED: Final[frozenset[str]] = frozenset({"eval"})

#: Built once: the evaluator's function objects keep no per-call state.
_BOUND: Final[dict[str, Any]] = {
    name: Jsonata.JFunction(_Native(implementation), signature)
    for name, (implementation, signature) in _SIGNATURES.items()
} | dict.fromkeys(DISABLED)


def bind_functions(frame: Jsonata.Frame) -> None:
    """Bind the Step Functions functions into ``frame`` and unbind ``$eval``."""
    for name, function in _BOUND.items():
        frame.bind(name, function)
