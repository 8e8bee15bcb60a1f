"""One exception tree: every public error montemap defines is a ``MontemapError``.

Private control-flow exceptions (a leading underscore) stay inside their module;
the two deliberate exceptions are listed with their reasons.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import montemap
from montemap.errors import MontemapError

#: Public exceptions outside the tree on purpose, as ``module.Name``: why.
OUTSIDE_THE_TREE: dict[str, str] = {
    "montemap.asl.jsonata_guard.Escalate": "a BaseException so no `except Exception` in the"
    " JSONata evaluator turns the fast path's give-up signal into an expression error",
    "montemap.credit.stop_signals.Stopped": "a KeyboardInterrupt: SIGTERM/SIGHUP during a"
    " generation unwind as Ctrl-C does, through the same clean-up of the objects written",
    "montemap.testing.waiting.NotYet": "an AssertionError: pytest reports it as a failed test",
    "montemap.worker.http11.BadResponse": "an OSError: a transport failure, which the worker's"
    " Step Functions client turns into botocore's connection errors (never shown as is)",
    "montemap.worker.http11.ClosedBeforeResponse": "a ConnectionResetError, for the same reason"
    " (and so that a kept-alive connection closed under a request is retried once)",
}


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a montemap module, by ``module.Name``."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(montemap.__path__, "montemap."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = value
    return found


def test_every_public_error_is_a_montemap_error() -> None:
    outside = sorted(
        name
        for name, cls in defined_exceptions().items()
        if not issubclass(cls, MontemapError)
        and not name.rsplit(".", 1)[1].startswith("_")
        and name not in OUTSIDE_THE_TREE
    )
    assert not outside, f"errors outside MontemapError: {outside}"


def test_the_listed_exceptions_exist() -> None:
    found = defined_exceptions()
    assert sorted(OUTSIDE_THE_TREE) == sorted(name for name in OUTSIDE_THE_TREE if name in found)
