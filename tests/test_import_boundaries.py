"""Libraries a user installs on any host import no server; the engine no HTTP layer.

``import montemap.worker`` (the activity-worker library) and ``import
montemap.credit`` (the credit workload) must load neither the engine, the APIs,
the ECS emulation nor Starlette; ``import montemap.engine`` loads no API and no
Starlette or uvicorn (it parses Lambda function names with
:mod:`montemap.lambda_names`, not the Lambda API's module). Each is imported in
a fresh interpreter, whose ``sys.modules`` is then inspected.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Module prefixes a library must not load.
SERVER_MODULES = (
    "montemap.engine",
    "montemap.api",
    "montemap.ecs",
    "montemap.assembly",
    "montemap.console",
    "montemap.s3api",
    "montemap.lambda_api",
    "montemap.cloudformation",
    "starlette",
    "uvicorn",
)

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(module: str) -> list[str]:
    """Every module a fresh interpreter holds after ``import module``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout)
    return modules


def server_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "starlette" or m.startswith(SERVER_MODULES)]


@pytest.mark.parametrize("library", ["montemap.worker", "montemap.worker.cli", "montemap.credit"])
def test_a_library_loads_no_server(library: str) -> None:
    modules = loaded_by(library)
    assert library in modules  # the probe did import it
    assert server_modules(modules) == []


@pytest.mark.parametrize("module", ["montemap.engine", "montemap.lambda_names"])
def test_the_engine_loads_no_http_layer(module: str) -> None:
    modules = loaded_by(module)
    assert module in modules
    # The engine's own modules are expected; nothing of the layers above it.
    above = [m for m in server_modules(modules) if not m.startswith("montemap.engine")]
    assert above == []


def test_the_probe_sees_a_server_import() -> None:
    """The check can fail: the assembled server does load the engine and Starlette."""
    found = server_modules(loaded_by("montemap.assembly"))
    assert "montemap.engine.engine" in found and "starlette" in found
