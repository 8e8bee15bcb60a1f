"""Run parameters, as carried in a Distributed Map batch's ``BatchInput``.

=================  =========  ==========================================================
key                default    meaning
=================  =========  ==========================================================
``output_bucket``  required   bucket that receives the batch outputs
``output_prefix``  ``""``     key prefix of the run; batches go to ``<prefix>/batches/<id>/``
``shocks_bp``      0,100,..   scenarios: rate shifts in basis points (-5000..5000, distinct,
                             at most ``MAX_SCENARIOS``)
``paths``          1000       Monte Carlo paths per scenario (1..10,000,000)
``seed``           0          integer in [0, 2**64)
``as_of``          today UTC  analysis date ``YYYY-MM-DD`` (give it: workers must agree)
``cutoff``         0.5        ``WillDefault`` = YES when the default frequency >= cutoff
``kappa``          0.15       macro-factor shift per percentage point of shock
``backend``        ``numpy``  kernel backend name
``estimator``      ``is``     ``is`` (importance sampling of the factor) or ``plain``
``batch_id``       derived    names the batch's output folder (default: a hash of its keys)
=================  =========  ==========================================================
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from montemap.credit import shock_list
from montemap.credit.sampling import DEFAULT_ESTIMATOR, ESTIMATORS
from montemap.credit.shock_list import MAX_SCENARIOS as MAX_SCENARIOS
from montemap.credit.shock_list import MAX_SHOCK_BP as MAX_SHOCK_BP
from montemap.errors import StatesError

INVALID_BATCH = "Montemap.InvalidBatch"
DEFAULT_SHOCKS_BP = (0, 100, 200, 300)
DEFAULT_PATHS = 1000
MAX_PATHS = 10_000_000
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEYS = frozenset(
    {
        "output_bucket",
        "output_prefix",
        "shocks_bp",
        "paths",
        "seed",
        "as_of",
        "cutoff",
        "kappa",
        "backend",
        "estimator",
        "batch_id",
    }
)


class BatchInputError(StatesError):
    """A batch event or BatchInput that cannot be used (the worker reports it as failed)."""

    def __init__(self, cause: str) -> None:
        super().__init__(INVALID_BATCH, cause)


@dataclass(frozen=True)
class RunParams:
    """Everything a batch needs besides its items."""

    output_bucket: str = "montemap-results"
    output_prefix: str = ""
    shocks_bp: tuple[int, ...] = DEFAULT_SHOCKS_BP
    paths: int = DEFAULT_PATHS
    seed: int = 0
    as_of: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    cutoff: float = 0.5
    kappa: float = 0.15
    backend: str = "numpy"
    estimator: str = DEFAULT_ESTIMATOR

    def fingerprint(self) -> str:
        """Hash of what determines the results (not where they are written)."""
        return _fingerprint(self, repr(self))  # repr: 0.0 and -0.0 are equal, not alike

    def _fingerprint(self) -> str:
        doc = {
            "shocks_bp": list(self.shocks_bp),
            "paths": self.paths,
            "seed": self.seed,
            "as_of": self.as_of.isoformat(),
            "cutoff": self.cutoff,
            "kappa": self.kappa,
            "backend": self.backend,
            "estimator": self.estimator,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def to_batch_input(self) -> dict[str, Any]:
        """The BatchInput object that reproduces these parameters."""
        return {
            "output_bucket": self.output_bucket,
            "output_prefix": self.output_prefix,
            "shocks_bp": list(self.shocks_bp),
            "paths": self.paths,
            "seed": self.seed,
            "as_of": self.as_of.isoformat(),
            "cutoff": self.cutoff,
            "kappa": self.kappa,
            "backend": self.backend,
            "estimator": self.estimator,
        }

    def run_key(self, name: str) -> str:
        """Key of a run-level object (``summary.json``...) under the prefix."""
        return f"{self.output_prefix}/{name}" if self.output_prefix else name

    def batch_key(self, batch_id: str, name: str) -> str:
        """Key of one batch output."""
        return self.run_key(f"batches/{batch_id}/{name}")


@functools.lru_cache(maxsize=16)
def _fingerprint(params: RunParams, text: str) -> str:
    """:meth:`RunParams.fingerprint`, hashed once per parameters (every batch of a run
    asks for it); ``text`` is their ``repr``, which tells apart values that compare
    equal but are written differently."""
    return params._fingerprint()


def _int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BatchInputError(f"{where} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise BatchInputError(f"{where} must be from {lo} to {hi}, got {value}")
    return value


def _float(where: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BatchInputError(f"{where} must be a number, got {value!r}")
    if not lo <= value <= hi or (lo_open and value == lo):
        raise BatchInputError(
            f"{where} must be in {'(' if lo_open else '['}{lo}, {hi}], got {value}"
        )
    return float(value)


def parse_shocks(where: str, value: Any) -> tuple[int, ...]:
    """A non-empty list of distinct integer shocks in basis points."""
    if not isinstance(value, list | tuple) or not value:
        raise BatchInputError(f"{where} must be a non-empty list of integers (basis points)")
    if len(value) > MAX_SCENARIOS:
        raise BatchInputError(
            f"{where} lists {len(value):,} scenarios; at most {MAX_SCENARIOS} are allowed"
        )
    shocks = tuple(
        _int(f"{where}[{i}]", v, -MAX_SHOCK_BP, MAX_SHOCK_BP) for i, v in enumerate(value)
    )
    if len(set(shocks)) != len(shocks):
        raise BatchInputError(f"{where} repeats a scenario: {list(shocks)}")
    return shocks


def parse_shock_list(option: str, text: str) -> tuple[int, ...]:
    """:func:`montemap.credit.shock_list.parse_shock_list`, refusing with
    :class:`BatchInputError`."""
    try:
        return shock_list.parse_shock_list(option, text)
    except shock_list.ShockListError as exc:
        raise BatchInputError(str(exc)) from None


def parse_as_of(where: str, value: Any) -> dt.date:
    """A date ``YYYY-MM-DD`` in ASCII digits (``\\d`` would also take ``٢٠٢٦``)."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise BatchInputError(
            f"{where} must be a date YYYY-MM-DD (ASCII digits 0-9), got {value!r}"
        )
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BatchInputError(f"{where} is not a valid date: {value!r}")


def parse_batch_input(value: Any) -> tuple[RunParams, str | None]:
    """Validate a BatchInput object; returns the parameters and the batch id, if given."""
    if not isinstance(value, Mapping):
        raise BatchInputError(f"BatchInput must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise BatchInputError(
            f"BatchInput has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
        )
    bucket = value.get("output_bucket")
    if not isinstance(bucket, str) or not bucket:
        raise BatchInputError("BatchInput.output_bucket must be a bucket name")
    prefix = value.get("output_prefix", "")
    if not isinstance(prefix, str):
        raise BatchInputError(f"BatchInput.output_prefix must be a string, got {prefix!r}")
    batch_id = value.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id)):
        raise BatchInputError(
            f"BatchInput.batch_id must be 1-128 characters of letters, digits, '.', '_', '-', got {batch_id!r}"
        )
    kwargs: dict[str, Any] = {"output_bucket": bucket, "output_prefix": prefix.strip("/")}
    if "shocks_bp" in value:
        kwargs["shocks_bp"] = parse_shocks("BatchInput.shocks_bp", value["shocks_bp"])
    if "paths" in value:
        kwargs["paths"] = _int("BatchInput.paths", value["paths"], 1, MAX_PATHS)
    if "seed" in value:
        kwargs["seed"] = _int("BatchInput.seed", value["seed"], 0, (1 << 64) - 1)
    if "as_of" in value:
        kwargs["as_of"] = parse_as_of("BatchInput.as_of", value["as_of"])
    if "cutoff" in value:
        kwargs["cutoff"] = _float("BatchInput.cutoff", value["cutoff"], 0.0, 1.0, lo_open=True)
    if "kappa" in value:
        kwargs["kappa"] = _float("BatchInput.kappa", value["kappa"], 0.0, 10.0)
    if "backend" in value:
        if not isinstance(value["backend"], str):
            raise BatchInputError("BatchInput.backend must be a string")
        kwargs["backend"] = value["backend"]
    if "estimator" in value:
        if value["estimator"] not in ESTIMATORS:
            raise BatchInputError(
                f"BatchInput.estimator must be one of {', '.join(ESTIMATORS)}, "
                f"got {value['estimator']!r}"
            )
        kwargs["estimator"] = value["estimator"]
    return RunParams(**kwargs), batch_id
