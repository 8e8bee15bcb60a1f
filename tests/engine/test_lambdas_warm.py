"""``FunctionRegistry.warm``: the function pool's first process, started before the first call."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.lambdas import FunctionConfigError, FunctionRegistry
from montemap.testing import eventually

pytestmark = pytest.mark.timeout(120)

_HERE = "tests.engine.test_lambdas_warm"
_VARIABLE = "MONTEMAP_TEST_WARM_VARIABLE"


def whoami(event: Any, context: Any) -> dict[str, Any]:
    """A function that says which process ran it and what its environment holds."""
    return {"pid": os.getpid(), "variable": os.environ.get(_VARIABLE)}


def _pool_processes() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


def test_the_first_call_after_a_warm_up_starts_no_process() -> None:
    registry = FunctionRegistry({"WhoAmI": f"{_HERE}:whoami"})
    try:
        pid = registry.warm([_HERE]).result(timeout=60)
        assert pid != os.getpid()
        before = _pool_processes()
        assert pid in before
        payload, error = asyncio.run(registry.invoke("WhoAmI", {}, {}))
        assert error is None
        assert payload["pid"] == pid  # the warmed process ran it ...
        assert not _pool_processes() - before  # ... and no other process was started
    finally:
        registry.close()
    eventually(lambda: _gone(pid), timeout=30, what=f"pool process {pid} to exit on close")


def test_a_call_during_the_warm_up_waits_for_the_warmed_process() -> None:
    registry = FunctionRegistry({"WhoAmI": f"{_HERE}:whoami"})
    try:
        before = _pool_processes()
        warming = registry.warm([_HERE])
        payload, error = asyncio.run(registry.invoke("WhoAmI", {}, {}))  # not waiting first
        assert error is None
        assert payload["pid"] == warming.result(timeout=60)
        assert len(_pool_processes() - before) == 1  # one process: the warmed one
    finally:
        registry.close()


def test_a_module_that_cannot_be_imported_is_left_to_the_call() -> None:
    registry = FunctionRegistry({"Missing": "tests.engine.no_such_module:handler"})
    try:
        registry.warm(["tests.engine.no_such_module"]).result(timeout=60)
        payload, error = asyncio.run(registry.invoke("Missing", {}, {}))
        assert error == "ModuleNotFoundError"
        assert "no_such_module" in payload["errorMessage"]
    finally:
        registry.close()


def test_warming_a_closed_registry_fails_and_starts_nothing() -> None:
    registry = FunctionRegistry({"WhoAmI": f"{_HERE}:whoami"})
    registry.close()
    before = _pool_processes()
    with pytest.raises(FunctionConfigError, match="closed"):
        registry.warm([_HERE]).result(timeout=60)
    assert not _pool_processes() - before


def test_functions_see_the_environment_of_when_the_pool_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The forkserver may run since before the server set its variables (montemap run
    # starts it first): the pool's processes still get the server's environment.
    forkserver.ensure_running()
    monkeypatch.setenv(_VARIABLE, "set-after-the-forkserver-started")
    registry = FunctionRegistry({"WhoAmI": f"{_HERE}:whoami"})
    try:
        registry.warm([_HERE]).result(timeout=60)
        payload, error = asyncio.run(registry.invoke("WhoAmI", {}, {}))
    finally:
        registry.close()
    assert error is None
    assert payload["variable"] == "set-after-the-forkserver-started"


_KILLED_SERVER = f"""
import os, sys
from montemap.engine.lambdas import FunctionRegistry
registry = FunctionRegistry({{"WhoAmI": "{_HERE}:whoami"}})
print(registry.warm(["{_HERE}"]).result(timeout=60), flush=True)
os._exit(0)  # as if killed: the pool is never closed
"""


def test_the_pool_process_ends_with_a_server_that_never_closed_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_SERVER],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    eventually(lambda: _gone(pid), timeout=30, what=f"orphaned pool process {pid} to end")
