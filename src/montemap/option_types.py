"""Number types for command-line options, read strictly.

argparse's ``type=int`` and ``type=float`` take what Python's ``int`` and ``float``
take: ``1_000``, surrounding whitespace, the digits of other scripts (``١٠٠``,
fullwidth ``１００``) and, for ``float``, ``inf``, ``nan`` and ``infinity``. An option
of a montemap command takes plain ASCII numbers only; anything else is refused by
argparse in one line naming the option and the value (exit 2)::

    montemap simulate: error: argument --paths: '١٠٠' is not a whole number (ASCII digits 0-9)

A value in ASCII digits that is out of an option's range is the command's to refuse,
naming the range (``--paths must be from 1 to 10,000,000``); so are ``nan`` and ``inf``
where an option takes :func:`ranged_number` (its range check refuses them by name).

Standard library only: ``montemap run`` and ``montemap worker`` check their options
before they load any numeric module.
"""

from __future__ import annotations

import argparse
import math
import re

#: A whole number as an option takes it: ASCII digits, an optional sign (the commands'
#: range checks then name the values they refuse, negative ones included).
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: A decimal number: ASCII digits, an optional sign, fraction and exponent.
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: ``nan``, ``inf`` and ``infinity`` (any case, optional sign), for :func:`ranged_number`.
_NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
#: The most significant digits a whole-number option takes: every option's range ends
#: well below (2**64-1, the largest seed, has 20), so a longer value is refused here
#: rather than quoted whole by a range check (and ``int`` refuses 4,300 and more).
MAX_INTEGER_DIGITS = 40
#: The most characters of a refused value an error message quotes.
_SHOWN = 24


def is_integer_text(text: str) -> bool:
    """Whether ``text`` is a whole number in ASCII digits (optional sign)."""
    return _INTEGER.fullmatch(text) is not None


def is_decimal_text(text: str) -> bool:
    """Whether ``text`` is a decimal number in ASCII digits (no ``inf``, ``nan``, ``_``)."""
    return _DECIMAL.fullmatch(text) is not None


def is_number_text(text: str) -> bool:
    """Whether ``text`` is a decimal number in ASCII digits, or ``nan``/``inf`` in ASCII
    letters (what :func:`ranged_number` takes)."""
    return is_decimal_text(text) or _NON_FINITE.fullmatch(text) is not None


def shown(text: str) -> str:
    """``text`` quoted for a one-line message: at most a short prefix of it."""
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}... ({len(text):,} characters)"


def integer(text: str) -> int:
    """An argparse ``type``: a whole number in ASCII digits with an optional sign."""
    if not is_integer_text(text):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number (ASCII digits 0-9)")
    if len(text.lstrip("+-").lstrip("0")) > MAX_INTEGER_DIGITS:
        raise argparse.ArgumentTypeError(f"{shown(text)} is out of range")
    return int(text)


def number(text: str) -> float:
    """An argparse ``type``: a finite decimal number in ASCII digits (``0.5``, ``1e-3``)."""
    if not is_decimal_text(text):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number (ASCII digits 0-9)")
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{shown(text)} is out of range")
    return value


def ranged_number(text: str) -> float:
    """An argparse ``type`` for an option whose command checks its range (and says it):
    :func:`number`, and also ``nan`` and ``inf`` in ASCII letters, which that check
    refuses naming the range (``--cutoff must be in (0, 1], got nan``)."""
    if not is_number_text(text):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number (ASCII digits 0-9)")
    return float(text)  # 1e999 is inf: the range check refuses it
