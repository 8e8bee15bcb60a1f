"""The builtin functions' pool process computes as the server's own process would.

``montemap run`` starts a forkserver with NumPy, PyArrow, SciPy and the report's modules
imported (:mod:`montemap.workflows.prestart`) and runs "Reduce and Report" in a process
forked from it (:meth:`FunctionRegistry.warm`). Libraries that size their thread pools or
pick their allocator when they load could then run the reduction with settings made in
the forkserver rather than the ones a fresh process gets: fewer Arrow or BLAS threads,
another memory pool, another CPU affinity or priority. Each check below runs in the real
pool process and in the process that starts it, the same way, and compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

_HERE = "tests.engine.test_lambdas_pool_settings"


def settings(event: Any = None, context: Any = None) -> dict[str, Any]:
    """The settings the reduction's speed depends on, in the process that runs this."""
    import pyarrow as pa

    from montemap.credit.reduce import arrow_pool
    from montemap.credit.reduce_blas import _controls, single_thread_blas

    blas = [int(get()) for _, get in _controls()]
    with single_thread_blas():
        pinned = [int(get()) for _, get in _controls()]
    with arrow_pool():
        pool_inside = pa.default_memory_pool().backend_name
    return {
        "arrow_cpu_threads": pa.cpu_count(),
        "arrow_io_threads": pa.io_thread_count(),
        "memory_pool": pa.default_memory_pool().backend_name,
        "memory_pool_in_reduce": pool_inside,
        "blas_threads": sorted(blas),
        "blas_threads_in_reduce": sorted(pinned),
        "blas_threads_after": sorted(int(get()) for _, get in _controls()),
        "affinity": sorted(os.sched_getaffinity(0)),
        "nice": os.nice(0),
    }


# Runs in a fresh interpreter, as ``montemap run`` starts: the forkserver first (with the
# functions' modules), then the pool's process forked from it; the same checks run in this
# process once it has the same modules, then through the pool.
_RUN = f"""
import asyncio, json
from montemap.engine.lambdas import FunctionRegistry
from montemap.workflows.prestart import FUNCTION_MODULES, start_function_forkserver

start_function_forkserver()
registry = FunctionRegistry({{"Settings": "{_HERE}:settings"}})
try:
    pid = registry.warm(FUNCTION_MODULES).result(timeout=60)
    payload, error = asyncio.run(registry.invoke("Settings", {{}}, {{}}))
finally:
    registry.close()
import importlib
for name in FUNCTION_MODULES:
    importlib.import_module(name)
from {_HERE} import settings
print(json.dumps({{"pid": pid, "error": error, "pool": payload, "server": settings()}}))
"""


@pytest.fixture(scope="module")
def compared() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert result["error"] is None, result["pool"]
    return result


def test_the_function_ran_in_the_pool_process(compared: dict[str, Any]) -> None:
    assert compared["pid"] != os.getpid()
    assert compared["pool"] is not None


@pytest.mark.parametrize(
    "setting",
    [
        "arrow_cpu_threads",
        "arrow_io_threads",
        "memory_pool",
        "memory_pool_in_reduce",
        "blas_threads",
        "blas_threads_in_reduce",
        "blas_threads_after",
        "affinity",
        "nice",
    ],
)
def test_the_pool_process_has_the_servers_setting(compared: dict[str, Any], setting: str) -> None:
    assert compared["pool"][setting] == compared["server"][setting]


def test_the_reduction_pins_every_blas_to_one_thread_in_the_pool(
    compared: dict[str, Any],
) -> None:
    pool = compared["pool"]
    assert pool["blas_threads_in_reduce"] == [1] * len(pool["blas_threads"])
    assert pool["blas_threads_after"] == pool["blas_threads"]
