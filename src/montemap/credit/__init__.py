"""The credit workload: loans, the model, the Monte Carlo kernel, batches, reduction.

Public API (docs/model.md documents the model and the output schemas):

* :func:`handle_batch` - the workers' batch handler (Distributed Map batch in,
  batch outputs in the object store, small summary out);
* :func:`handle_reduce` / :func:`reduce_run` - batch outputs to ``summary.json``,
  ``loans.parquet`` and ``rejects.csv``;
* :func:`run_simulation` - the whole run on one machine (``montemap simulate``);
* :class:`RunParams` / :func:`parse_batch_input` - run parameters (BatchInput);
* :func:`parse_object`, :class:`LoanArrays` - loan records;
* :func:`get_backend`, :func:`register_backend` - kernel backends.

The generator, tape import and HTML report live in ``generator``, ``tape`` and
``report`` (imported on demand).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from montemap.credit.batch import handle_batch, process_batch, simulate_loans
    from montemap.credit.kernel import (
        Backend,
        KernelInputs,
        KernelResult,
        available_backends,
        get_backend,
        register_backend,
    )
    from montemap.credit.loans import Loan, LoanArrays, Reject, parse_object, parse_records
    from montemap.credit.params import BatchInputError, RunParams, parse_batch_input
    from montemap.credit.reduce import ReduceError, RunOutputs, handle_reduce, reduce_run
    from montemap.credit.simulate import SimulateError, run_simulation

# Each public name and the submodule that defines it. Imported on first use
# (PEP 562), so that ``import montemap.credit.quality`` or the worker's start-up
# does not pay for SciPy, PyArrow and the reduction it may never need.
_HOMES = {
    "batch": ("handle_batch", "process_batch", "simulate_loans"),
    "kernel": (
        "Backend",
        "KernelInputs",
        "KernelResult",
        "available_backends",
        "get_backend",
        "register_backend",
    ),
    "loans": ("Loan", "LoanArrays", "Reject", "parse_object", "parse_records"),
    "params": ("BatchInputError", "RunParams", "parse_batch_input"),
    "reduce": ("ReduceError", "RunOutputs", "handle_reduce", "reduce_run"),
    "simulate": ("SimulateError", "run_simulation"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Backend",
    "BatchInputError",
    "KernelInputs",
    "KernelResult",
    "Loan",
    "LoanArrays",
    "ReduceError",
    "Reject",
    "RunOutputs",
    "RunParams",
    "SimulateError",
    "available_backends",
    "get_backend",
    "handle_batch",
    "handle_reduce",
    "parse_batch_input",
    "parse_object",
    "parse_records",
    "process_batch",
    "reduce_run",
    "register_backend",
    "run_simulation",
    "simulate_loans",
]
