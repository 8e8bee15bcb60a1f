"""The functions' forkserver freezes its imports' objects for the collector, and only it
(:mod:`montemap.workflows.forkserver_gc`, started by ``montemap run``'s prestart)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from montemap.workflows.forkserver_gc import FREEZE_VARIABLE

pytestmark = pytest.mark.timeout(120)

_HERE = "tests.workflows.test_forkserver_gc"
_ROOT = Path(__file__).parents[2]


def collector(event: Any = None, context: Any = None) -> dict[str, Any]:
    """What the process that runs this sees of the collector and the variable."""
    return {
        "pid": os.getpid(),
        "frozen": gc.get_freeze_count(),
        "variable": os.environ.get(FREEZE_VARIABLE),
    }


# A fresh interpreter, started as ``montemap run`` starts: the forkserver first, then the
# pool's process forked from it, warmed with the functions' modules.
_RUN = f"""
import asyncio, json, os
from montemap.engine.lambdas import FunctionRegistry
from montemap.workflows.prestart import FUNCTION_MODULES, start_function_forkserver
from montemap.workflows.forkserver_gc import FREEZE_VARIABLE

start_function_forkserver()
after_start = os.environ.get(FREEZE_VARIABLE)
registry = FunctionRegistry({{"Collector": "{_HERE}:collector"}})
try:
    registry.warm(FUNCTION_MODULES).result(timeout=60)
    payload, error = asyncio.run(registry.invoke("Collector", {{}}, {{}}))
finally:
    registry.close()
print(json.dumps({{"error": error, "pool": payload, "server_variable": after_start}}))
"""


def _python(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != FREEZE_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        cwd=_ROOT,
        env={**base, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


@pytest.fixture(scope="module")
def pool() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_python(_RUN))
    assert result["error"] is None, result["pool"]
    return result


def test_the_pool_process_inherits_the_forkservers_imports_frozen(pool: dict[str, Any]) -> None:
    # NumPy, PyArrow, SciPy and the report's modules: tens of thousands of objects
    assert pool["pool"]["frozen"] > 10_000


def test_the_variable_reaches_neither_the_server_nor_its_functions(pool: dict[str, Any]) -> None:
    assert pool["server_variable"] is None
    assert pool["pool"]["variable"] is None


_IMPORT = "import gc, montemap.workflows.forkserver_gc; print(gc.get_freeze_count())"


def test_importing_the_module_elsewhere_freezes_nothing() -> None:
    assert int(_python(_IMPORT)) == 0


def test_the_module_freezes_where_the_variable_is_set() -> None:
    assert int(_python(_IMPORT, **{FREEZE_VARIABLE: "1"})) > 0
